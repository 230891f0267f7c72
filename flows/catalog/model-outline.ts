/**
 * `model-outline`: a structured answer (a title, sections with bullet points) streamed from a
 * real model when one is configured — an OpenAI-compatible endpoint given as the `model` option
 * (`flowcast serve` passes its `modelBaseUrl`, `model` and `modelApiKey` settings) — and from the
 * simulated model otherwise. The engine reads no environment: the server's settings do. Nodes go into the runtime stream as they fill in; each complete section is a
 * business event a `when` handler turns into a summary item; the result carries the outline,
 * the finish reason and the token usage. The AI SDK is loaded only when a model is configured,
 * so the catalog runs without it.
 */
import { z } from 'zod'
import { type ModelPart, type ModelRun, streamModelNodes } from '../instant/model-stream.ts'
import { ANY, instantNodeItem, matchPath } from '../instant/node.ts'
import type { RetryOptions } from '../instant/retry.ts'
import { TriggerFlow } from '../triggerflow/flow.ts'
import { playTokens, simulatedBulletOutline, tokenize } from './simulated-model.ts'

/** An OpenAI-compatible endpoint: vLLM, Ollama, LM Studio, OpenAI itself. */
export interface ModelEndpoint {
  /** The API's base URL, with its `/v1`. */
  baseURL: string
  model: string
  apiKey?: string
}

export const outlineSchema = z.object({
  title: z.string(),
  sections: z.array(z.object({ heading: z.string(), bullets: z.array(z.string()) })),
})

const sectionItem = z.object({
  type: z.literal('section'),
  index: z.number().int(),
  heading: z.string(),
  bullets: z.number().int(),
  attempt: z.number().int(),
})
const retryItem = z.object({
  type: z.literal('model_retry'),
  attempt: z.number().int(),
  error: z.object({ code: z.string(), message: z.string() }),
})
const count = z.number().int().nullable()

export interface ModelOutlineOptions {
  /** The endpoint; `null` or absent: the simulated model. @default null */
  model?: ModelEndpoint | null
  /** Retries of a failed model call. @default 3 attempts, 500 ms doubling */
  retry?: RetryOptions
}

function prompt(topic: string, sections: number, bullets: number): string {
  return (
    `Write an outline about ${JSON.stringify(topic)}: a title and exactly ${sections} sections, each with a ` +
    `heading and ${bullets} short bullet points. Answer with JSON only: ` +
    '{"title": string, "sections": [{"heading": string, "bullets": [string]}]}.'
  )
}

/** Builds the `model-outline` flow. */
export function modelOutlineFlow(options: ModelOutlineOptions = {}) {
  const flow = new TriggerFlow({
    name: 'model-outline',
    description:
      'An outline (title, sections, bullets) streamed as nodes from a real model when one is configured (FLOWCAST_MODEL_BASE_URL, FLOWCAST_MODEL), else from the simulated model.',
    exampleInput: { topic: 'flowcast', sections: 3, bullets: 3 },
    contract: {
      input: z
        .object({
          topic: z.string().min(1).max(200).default('flowcast'),
          sections: z.number().int().min(1).max(8).default(3),
          bullets: z.number().int().min(1).max(6).default(3),
          /** Simulated model only: the pause between tokens. */
          tokenDelayMs: z.number().int().min(0).max(1000).default(15),
        })
        .default({ topic: 'flowcast', sections: 3, bullets: 3, tokenDelayMs: 15 }),
      stream: z.union([instantNodeItem, sectionItem, retryItem]),
      result: z.object({
        outline: outlineSchema,
        model: z.string(),
        finishReason: z.string(),
        usage: z.object({ inputTokens: count, outputTokens: count, totalTokens: count }),
        attempts: z.number().int(),
      }),
    },
  })
  const retry = options.retry ?? { attempts: 3 }
  const generate = flow.chunk('generate', async (data) => {
    const { topic, sections, bullets, tokenDelayMs } = data.input
    const endpoint = options.model ?? null
    const call = {
      eventOf: (node: { path: (string | number)[] }) =>
        matchPath(node.path, ['sections', ANY]) ? 'section_complete' : undefined,
      retry,
      onRetry: async (error: { code: string; message: string }, attempt: number) => {
        await data.putIntoStream({
          type: 'model_retry',
          attempt,
          error: { code: error.code, message: error.message },
        })
      },
    }
    let run: ModelRun<z.output<typeof outlineSchema>>
    if (endpoint) {
      // Loaded here so that a server without a model configured never needs the AI SDK.
      const [{ createOpenAICompatible }, { streamObjectNodes }] = await Promise.all([
        import('@ai-sdk/openai-compatible'),
        import('../instant/ai-sdk.ts'),
      ])
      const provider = createOpenAICompatible({
        name: 'flowcast-model',
        baseURL: endpoint.baseURL,
        ...(endpoint.apiKey ? { apiKey: endpoint.apiKey } : {}),
        // Without it an OpenAI-compatible stream carries no token usage.
        includeUsage: true,
        supportsStructuredOutputs: true,
      })
      run = await streamObjectNodes(
        data,
        {
          model: provider(endpoint.model),
          schema: outlineSchema,
          schemaName: 'outline',
          prompt: prompt(topic, sections, bullets),
        },
        call,
      )
    } else {
      const text = JSON.stringify(simulatedBulletOutline(topic, sections, bullets), null, 1)
      const tokens = tokenize(text, `${topic}#outline`)
      const inputTokens = Math.ceil(prompt(topic, sections, bullets).length / 4)
      run = await streamModelNodes(
        data,
        async function* (signal): AsyncGenerator<ModelPart> {
          for await (const token of playTokens(tokens, { delayMs: tokenDelayMs, signal }))
            yield { type: 'text', text: token }
          const usage = { inputTokens, outputTokens: tokens.length, totalTokens: inputTokens + tokens.length }
          yield { type: 'finish', finishReason: 'stop', usage }
        },
        { ...call, schema: outlineSchema },
      )
    }
    return {
      outline: run.value,
      model: endpoint ? endpoint.model : 'simulated',
      finishReason: run.finishReason,
      usage: {
        inputTokens: run.usage.inputTokens ?? null,
        outputTokens: run.usage.outputTokens ?? null,
        totalTokens: run.usage.totalTokens ?? null,
      },
      attempts: run.attempts,
    }
  })
  flow.when('section_complete').to(async (data) => {
    const node = data.value as { path: (string | number)[]; value: unknown; attempt: number }
    // A real model's section is only checked against the schema with the whole answer: skip a misshapen one here.
    const section = outlineSchema.shape.sections.element.safeParse(node.value)
    if (!section.success) return
    await data.putIntoStream({
      type: 'section',
      index: node.path[1] as number,
      heading: section.data.heading,
      bullets: section.data.bullets.length,
      attempt: node.attempt,
    })
  })
  flow.to(generate).end()
  return flow
}
