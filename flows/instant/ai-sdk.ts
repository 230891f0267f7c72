/**
 * The bridge to the Vercel AI SDK (`ai`, an optional peer dependency): `streamText` or
 * `streamObject` with any provider the SDK supports, its answer put into the runtime stream as
 * instant nodes. The execution's signal reaches the provider call (cancel aborts the request);
 * the SDK's own retries are off because they cannot see a connection that breaks mid-answer —
 * `options.retry` retries any attempt and numbers its nodes. Import it as `@flowcast/flows/ai`.
 */
import { streamObject, streamText } from 'ai'
import type { z } from 'zod'
import {
  type ModelPart,
  type ModelRun,
  type ModelSink,
  type ModelStreamOptions,
  streamModelNodes,
} from './model-stream.ts'

// Distributive over the SDK's union of call shapes (a `prompt` or `messages`), which Omit would flatten.
type DistOmit<T, K extends PropertyKey> = T extends unknown ? Omit<T, K> : never
type DistPick<T, K extends PropertyKey> = T extends unknown ? Pick<T, Extract<keyof T, K>> : never
type TextSettings = Parameters<typeof streamText>[0]
type TextCall = DistOmit<TextSettings, 'abortSignal' | 'maxRetries' | 'onError'>
type ObjectCall<S extends z.ZodType> = DistPick<
  TextSettings,
  | 'model'
  | 'system'
  | 'prompt'
  | 'messages'
  | 'temperature'
  | 'maxOutputTokens'
  | 'topP'
  | 'topK'
  | 'seed'
  | 'headers'
  | 'providerOptions'
> & { schema: S; schemaName?: string; schemaDescription?: string }

interface SdkUsage {
  inputTokens?: number | undefined
  outputTokens?: number | undefined
  totalTokens?: number | undefined
}

const usageOf = (u: SdkUsage | undefined) => ({
  inputTokens: u?.inputTokens,
  outputTokens: u?.outputTokens,
  totalTokens: u?.totalTokens,
})

/** Reduces an SDK full stream to text and finish; an error part throws it (the first one ends the attempt). */
async function* partsOf(full: AsyncIterable<unknown>): AsyncGenerator<ModelPart> {
  for await (const raw of full) {
    const part = raw as { type: string; [k: string]: unknown }
    switch (part.type) {
      case 'text-delta': {
        // streamText names the piece `text`, streamObject `textDelta`.
        const text = (part.text ?? part.textDelta) as string
        if (text) yield { type: 'text', text }
        break
      }
      case 'error':
        throw part.error
      case 'finish':
        yield {
          type: 'finish',
          finishReason: part.finishReason as string,
          usage: usageOf((part.totalUsage ?? part.usage) as SdkUsage | undefined),
        }
        break
    }
  }
}

/** `streamText` into instant nodes: the model's text must be one JSON document. */
export function streamTextNodes<S extends z.ZodType = z.ZodType>(
  data: ModelSink,
  call: TextCall,
  options: ModelStreamOptions<S> = {},
): Promise<ModelRun<z.output<S>>> {
  return streamModelNodes(
    data,
    (signal) =>
      partsOf(streamText({ ...call, abortSignal: signal, maxRetries: 0, onError: () => {} }).fullStream),
    options,
  )
}

/** `streamObject` with a zod schema (a flow contract's, say) into instant nodes; the answer is checked by the schema. */
export function streamObjectNodes<S extends z.ZodType>(
  data: ModelSink,
  call: ObjectCall<S>,
  options: Omit<ModelStreamOptions<S>, 'schema'> = {},
): Promise<ModelRun<z.output<S>>> {
  return streamModelNodes(
    data,
    (signal) =>
      partsOf(
        streamObject({
          ...(call as Parameters<typeof streamObject>[0]),
          abortSignal: signal,
          maxRetries: 0,
          onError: () => {},
        }).fullStream,
      ),
    { ...options, schema: call.schema },
  )
}
