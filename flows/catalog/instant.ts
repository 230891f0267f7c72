/**
 * "Instant" structured streaming: a chunk reads a (simulated) model's token stream, parses it as
 * it arrives, puts node-level progress into the runtime stream for UIs, and emits a business
 * event only when a node the flow cares about (the title, a whole section) is complete. A `when`
 * handler turns each such event into a summary item.
 */
import { z } from 'zod'
import { ANY, instantNodeItem, matchPath, type NodePath } from '../instant/node.ts'
import { putInstantNodes } from '../instant/put-nodes.ts'
import { TriggerFlow } from '../triggerflow/flow.ts'
import { simulatedModelStream } from './simulated-model.ts'

const nodePath = z.array(z.union([z.string(), z.number()]))
const summaryItem = z.object({ type: z.literal('summary'), path: nodePath, text: z.string() })

const outlineSchema = z.object({
  title: z.string(),
  sections: z.array(z.object({ heading: z.string(), body: z.string() })),
})

/** The nodes worth a business event: whole units a consumer can act on, not fragments. */
function businessEvent(node: { path: NodePath }): string | undefined {
  return matchPath(node.path, ['title']) || matchPath(node.path, ['sections', ANY])
    ? 'node_complete'
    : undefined
}

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
      stream: z.union([instantNodeItem, summaryItem]),
      result: outlineSchema,
    },
  })
  const generate = flow.chunk('generate', async (data) => {
    const { topic, sections, tokenDelayMs } = data.input
    const tokens = simulatedModelStream(topic, sections, { delayMs: tokenDelayMs, signal: data.signal })
    return putInstantNodes(data, tokens, { eventOf: businessEvent })
  })
  flow.when('node_complete').to(async (data) => {
    const { path, value } = data.value as { path: NodePath; value: unknown }
    const text =
      typeof value === 'string'
        ? `title: ${value}`
        : `${(value as { heading: string }).heading} (${(value as { body: string }).body.split(' ').length} words)`
    await data.putIntoStream({ type: 'summary', path, text })
  })
  flow.to(generate).end()
  return flow
}
