/**
 * A test-only flow only some nodes load (through FLOWCAST_EXTRA_FLOWS): `rare` puts `count`
 * items `intervalMs` apart and completes with how many it put.
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
      }),
    },
  })
  const tick = flow.chunk('tick', async (data) => {
    const { count, intervalMs } = data.input
    for (let n = 1; n <= count && !data.signal.aborted; n++) {
      await data.putIntoStream({ n })
      await new Promise((r) => setTimeout(r, intervalMs))
    }
    return { put: count }
  })
  flow.to(tick).end()
  return flow
}

export const flows = [rareFlow()]
