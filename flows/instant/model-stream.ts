/**
 * One model call, any SDK: runs attempts of a text stream through putInstantNodes, so every
 * node carries its attempt and a retry's nodes never pass for the first's (those already put
 * stay in the stream). Each attempt has its own AbortController tied to the execution's signal:
 * cancelling the execution aborts the request, and a failed parse or a bad chunk aborts it too,
 * so no connection outlives the attempt that opened it.
 */
import { FlowcastError } from '@flowcast/protocol'
import type { z } from 'zod'
import { toModelError } from './model-error.ts'
import type { InstantNodeItem } from './node.ts'
import { type PutNodesOptions, putInstantNodes } from './put-nodes.ts'
import { backoffMs, type RetryOptions, shouldRetry, wait } from './retry.ts'

/** Tokens a call used, as the provider reported them (undefined where it did not). */
export interface TokenUsage {
  inputTokens: number | undefined
  outputTokens: number | undefined
  totalTokens: number | undefined
}

/** What a model's stream says, reduced to what instant nodes need. */
export type ModelPart =
  | { type: 'text'; text: string }
  | { type: 'finish'; finishReason: string; usage: TokenUsage }

/** A finished call: the document (checked by the schema when one was given), why the model stopped, the tokens it used. */
export interface ModelRun<T = unknown> {
  value: T
  finishReason: string
  usage: TokenUsage
  /** Attempts made, the successful one included. */
  attempts: number
}

/** What a model call needs of a chunk's runtime data (any RuntimeData has it). */
export interface ModelSink {
  readonly signal: AbortSignal
  putIntoStream(item: InstantNodeItem): Promise<boolean>
  emit(event: string, value?: unknown): Promise<void>
}

export interface ModelStreamOptions<S extends z.ZodType = z.ZodType>
  extends Omit<PutNodesOptions, 'attempt'> {
  /** Checks the whole answer; a mismatch fails with `model_error` kind `schema`. */
  schema?: S
  /** @default no retry */
  retry?: RetryOptions
  /** Called before each retry, with the failure and the number of the attempt about to start. */
  onRetry?: (error: FlowcastError, nextAttempt: number) => void | Promise<void>
}

const NO_USAGE: TokenUsage = { inputTokens: undefined, outputTokens: undefined, totalTokens: undefined }

/**
 * Runs `start(signal, attempt)` (one model request per attempt) and puts its answer's nodes into
 * the stream. Fails with `model_error` (provider status in details), `invalid_json`, or the
 * execution's cancellation; retries when `options.retry` asks for it.
 */
export async function streamModelNodes<S extends z.ZodType = z.ZodType>(
  data: ModelSink,
  start: (signal: AbortSignal, attempt: number) => AsyncIterable<ModelPart>,
  options: ModelStreamOptions<S> = {},
): Promise<ModelRun<z.output<S>>> {
  const retry = options.retry ?? {}
  const attempts = Math.max(1, retry.attempts ?? 1)
  for (let attempt = 1; ; attempt++) {
    let error: FlowcastError
    try {
      return await attemptOnce(data, start, options, attempt)
    } catch (err) {
      if (data.signal.aborted) throw data.signal.reason
      error = toModelError(err, attempt)
    }
    if (attempt >= attempts || !shouldRetry(retry, error)) throw error
    await wait(backoffMs(retry, attempt, error), data.signal)
    await options.onRetry?.(error, attempt + 1)
  }
}

async function attemptOnce<S extends z.ZodType>(
  data: ModelSink,
  start: (signal: AbortSignal, attempt: number) => AsyncIterable<ModelPart>,
  options: ModelStreamOptions<S>,
  attempt: number,
): Promise<ModelRun<z.output<S>>> {
  if (data.signal.aborted) throw data.signal.reason
  const request = new AbortController()
  const onAbort = () => request.abort(data.signal.reason)
  data.signal.addEventListener('abort', onAbort, { once: true })
  const finish = { finishReason: 'unknown', usage: NO_USAGE }
  try {
    const value = await putInstantNodes(data, texts(start(request.signal, attempt), finish), {
      ...options,
      attempt,
    })
    return { value: checked(options.schema, value, attempt), ...finish, attempts: attempt }
  } finally {
    data.signal.removeEventListener('abort', onAbort)
    // Ends the request when the attempt stopped reading early (a parse error, a bad chunk).
    request.abort(new FlowcastError('model_error', 'model request ended'))
  }
}

async function* texts(parts: AsyncIterable<ModelPart>, finish: Omit<ModelRun, 'value' | 'attempts'>) {
  for await (const part of parts) {
    if (part.type === 'text') yield part.text
    else {
      finish.finishReason = part.finishReason
      finish.usage = part.usage
    }
  }
}

function checked<S extends z.ZodType>(schema: S | undefined, value: unknown, attempt: number): z.output<S> {
  if (!schema) return value as z.output<S>
  const parsed = schema.safeParse(value)
  if (parsed.success) return parsed.data as z.output<S>
  const issue = parsed.error.issues[0]
  const at = issue && issue.path.length > 0 ? issue.path.map(String).join('.') : '(root)'
  throw new FlowcastError(
    'model_error',
    `model call failed on attempt ${attempt}: the answer does not match its schema at ${at}: ${issue?.message ?? 'invalid'}`,
    { details: { kind: 'schema', attempt, retryable: false, issues: parsed.error.issues } },
  )
}
