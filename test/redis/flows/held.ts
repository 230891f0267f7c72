/**
 * A test-only flow the spawned nodes load through FLOWCAST_EXTRA_FLOWS: `held` is `long-job`
 * (items `{ n, of, pad }` of about `size` bytes, `intervalMs` apart, result `{ put, accepted }`)
 * except that its first attempt never ends on its own. It puts `holdAfter` items, then waits
 * until its node stops it (`data.signal`): a test kills the node once it has seen those items,
 * with no race against the flow finishing first. A re-run elsewhere (attempt 2 or later, after a
 * claim) puts all `count` items and completes.
 */
import { z } from 'zod'
import { TriggerFlow } from '../../../flows/index.ts'

/** Builds the `held` flow. */
export function heldFlow() {
  const flow = new TriggerFlow({
    name: 'held',
    contract: {
      input: z.object({
        count: z.number().int().min(1).max(10_000),
        size: z.number().int().min(16).max(4096).default(64),
        intervalMs: z.number().int().min(0).max(1000),
        /** Items the first attempt puts before it holds (at most `count`). */
        holdAfter: z.number().int().min(0).max(10_000),
      }),
      result: z.object({ put: z.number().int(), accepted: z.number().int() }),
    },
  })
  const produce = flow.chunk('produce', async (data) => {
    const { count, size, intervalMs, holdAfter } = data.input
    const signal = data.signal
    const first = data.attempt === 1
    const pad = 'x'.repeat(Math.max(0, size - JSON.stringify({ n: count, of: count, pad: '' }).length))
    const upTo = first ? Math.min(holdAfter, count) : count
    let put = 0
    let accepted = 0
    while (put < upTo && !signal.aborted) {
      put++
      if (await data.putIntoStream({ n: put, of: count, pad })) accepted++
      if (intervalMs > 0) await new Promise((r) => setTimeout(r, intervalMs))
    }
    // Held: only its node ending this copy (kill, drain, fence) ends the first attempt.
    if (first) await new Promise((r) => (signal.aborted ? r(undefined) : signal.addEventListener('abort', r)))
    return { put, accepted }
  })
  flow.to(produce).end()
  return flow
}

export const flows = [heldFlow()]
