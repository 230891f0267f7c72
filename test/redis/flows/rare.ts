/**
 * A test-only flow only some nodes load (through FLOWCAST_EXTRA_FLOWS): `rare` puts `count`
 * items `intervalMs` apart and completes with how many it put. With `holdAfter`, its first
 * attempt puts that many and then waits for its node to stop it (as `held` does, flows/held.ts):
 * a test kills the node after those items with no race against the flow finishing first.
 */
import { z } from 'zod'
import { TriggerFlow } from '../../../flows/index.ts'

/** Builds the `rare` flow. */
export function rareFlow() {
  const flow = new TriggerFlow({
    name: 'rare',
    contract: {
      input: z.object({
        count: z.number().int().min(1).max(10_000),
        intervalMs: z.number().int().min(0).max(1000),
        holdAfter: z.number().int().min(0).max(10_000).optional(),
      }),
    },
  })
  const tick = flow.chunk('tick', async (data) => {
    const { count, intervalMs, holdAfter } = data.input
    const signal = data.signal
    const held = holdAfter !== undefined && data.attempt === 1
    const upTo = held ? Math.min(holdAfter, count) : count
    for (let n = 1; n <= upTo && !signal.aborted; n++) {
      await data.putIntoStream({ n })
      await new Promise((r) => setTimeout(r, intervalMs))
    }
    if (held) await new Promise((r) => (signal.aborted ? r(undefined) : signal.addEventListener('abort', r)))
    return { put: count }
  })
  flow.to(tick).end()
  return flow
}

export const flows = [rareFlow()]
