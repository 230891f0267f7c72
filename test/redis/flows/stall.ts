/**
 * Test-only flows a spawned node loads through FLOWCAST_EXTRA_FLOWS (see server/main.ts).
 *
 * `stall`: puts `before` events, waits for a `go` interrupt (so the test attaches its
 * subscribers first, without a timer), then blocks the event loop for `stallMs` (a CPU-bound
 * step longer than the node's lease), puts `after` more events a few ms apart and completes
 * with 'done'. Run again on another node (attempt 2, after a claim) it does not block.
 */
import { z } from 'zod'
import { TriggerFlow } from '../../../flows/index.ts'

/** Builds the `stall` flow. */
export function stallFlow() {
  const flow = new TriggerFlow({
    name: 'stall',
    contract: {
      input: z.object({
        before: z.number().int().min(0).max(1000),
        stallMs: z.number().int().min(0).max(60_000),
        after: z.number().int().min(0).max(1000),
      }),
    },
  })
  const before = flow.chunk('before', async (data) => {
    for (let i = 1; i <= data.input.before; i++) await data.putIntoStream({ phase: 'before', i })
    data.state.set('input', data.input)
    return data.pauseFor({ type: 'go' })
  })
  const stall = flow.chunk('stall', async (data) => {
    // After the resume, data.input is the answer: the start input was kept in the state.
    const input = data.state.get<{ stallMs: number; after: number }>('input')!
    // Some async work first, as a real step would do: the node checkpoints the running step.
    await new Promise((r) => setTimeout(r, 50))
    const end = data.attempt === 1 ? Date.now() + input.stallMs : 0
    while (Date.now() < end) {
      // Busy on purpose: no timer of this process (its lease renewal included) runs meanwhile.
    }
    // Still running afterwards, tick after tick, as a real step would.
    for (let i = 1; i <= input.after; i++) {
      await data.putIntoStream({ phase: 'after', i })
      await new Promise((r) => setTimeout(r, 2))
    }
    return 'done'
  })
  flow.to(before).to(stall).end()
  return flow
}

export const flows = [stallFlow()]
