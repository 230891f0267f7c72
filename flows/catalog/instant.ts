/**
 * "Instant" structured streaming: a chunk reads a (simulated) model's token stream, parses it as
 * it arrives, puts node-level progress into the runtime stream for UIs, and emits a business
 * event only when a node the flow cares about (the title, a whole section) is complete. A `when`
 * handler turns each such event into a summary item.
 */
import { z } from 'zod'
import { TriggerFlow } from '../triggerflow/flow.ts'
import { IncrementalJsonParser } from './incremental-json.ts'
import { simulatedModelStream } from './simulated-model.ts'

const nodeItem = z.object({
  type: z.literal('node'),
  path: z.string(),
  value: z.unknown(),
  complete: z.boolean(),
})
const summaryItem = z.object({ type: z.literal('summary'), path: z.string(), text: z.string() })

const outlineSchema = z.object({
  title: z.string(),
  sections: z.array(z.object({ heading: z.string(), body: z.string() })),
})

/** The nodes worth a business event: whole units a consumer can act on, not fragments. */
const BUSINESS_NODE = /^(title|sections\[\d+\])$/

/** Builds the `instant` flow. */
export function instantFlow() {
  const flow = new TriggerFlow({
    name: 'instant',
    description: 'Structured nodes parsed live from a simulated model token stream.',
    exampleInput: { topic: 'flowcast', sections: 3, tokenDelayMs: 15 },
    contract: {
      input: z
        .object({
          topic: z.string().min(1).max(200).default('flowcast'),
          sections: z.number().int().min(1).max(8).default(3),
          tokenDelayMs: z.number().int().min(0).max(1000).default(15),
        })
        .default({ topic: 'flowcast', sections: 3, tokenDelayMs: 15 }),
      stream: z.union([nodeItem, summaryItem]),
      result: outlineSchema,
    },
  })
  const generate = flow.chunk('generate', async (data) => {
    const { topic, sections, tokenDelayMs } = data.input
    const parser = new IncrementalJsonParser()
    const tokens = simulatedModelStream(topic, sections, { delayMs: tokenDelayMs, signal: data.signal })
    for await (const token of tokens) {
      for (const node of parser.push(token)) {
        // The root is the result itself; the stream carries its parts.
        if (node.path === '') continue
        await data.putIntoStream({ type: 'node', ...node })
        if (node.complete && BUSINESS_NODE.test(node.path)) {
          await data.emit('node_complete', { path: node.path, value: node.value })
        }
      }
    }
    return parser.end()
  })
  flow.when('node_complete').to(async (data) => {
    const { path, value } = data.value as { path: string; value: unknown }
    const text =
      typeof value === 'string'
        ? `title: ${value}`
        : `${(value as { heading: string }).heading} (${(value as { body: string }).body.split(' ').length} words)`
    await data.putIntoStream({ type: 'summary', path, text })
  })
  flow.to(generate).end()
  return flow
}
