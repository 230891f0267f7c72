/**
 * A configurable producer for demos and benchmarks: `count` items of about `size` bytes, either
 * as fast as possible or `burst` items every `intervalMs`.
 */
import { z } from 'zod'
import { TriggerFlow } from '../triggerflow/flow.ts'

/** Items put between two yields to the event loop when running flat out, so sockets still get served. */
const YIELD_EVERY = 64

export const longJobInput = z.object({
  count: z.number().int().min(1).max(1_000_000),
  /** Approximate encoded size of each item's data in bytes. */
  size: z
    .number()
    .int()
    .min(16)
    .max(256 * 1024)
    .default(64),
  /** 0 = as fast as possible. */
  intervalMs: z.number().int().min(0).max(60_000).default(0),
  /** Items put at each tick (with an interval) or between yields (without one). */
  burst: z.number().int().min(1).max(10_000).optional(),
})

export const longJobItem = z.object({ n: z.number().int(), of: z.number().int(), pad: z.string() })

/** Resolves after `ms`, or at once when `signal` aborts (cancel must not wait out a long interval). */
function sleep(ms: number, signal: AbortSignal): Promise<void> {
  return new Promise((resolve) => {
    if (signal.aborted) return resolve()
    const done = () => {
      clearTimeout(timer)
      signal.removeEventListener('abort', done)
      resolve()
    }
    const timer = setTimeout(done, ms)
    signal.addEventListener('abort', done, { once: true })
  })
}

/** Builds the `long-job` flow. */
export function longJobFlow() {
  const flow = new TriggerFlow({
    name: 'long-job',
    description: 'A steady producer: count items, one every intervalMs.',
    exampleInput: { count: 300, size: 64, intervalMs: 100 },
    contract: {
      input: longJobInput,
      stream: longJobItem,
      result: z.object({ put: z.number().int(), accepted: z.number().int() }),
    },
  })
  const produce = flow.chunk('produce', async (data) => {
    const { count, size, intervalMs } = data.input
    const burst = data.input.burst ?? (intervalMs === 0 ? YIELD_EVERY : 1)
    // `{"n":..,"of":..,"pad":""}` is the envelope-free overhead; the pad brings each item to ~size.
    const overhead = JSON.stringify({ n: count, of: count, pad: '' }).length
    const pad = 'x'.repeat(Math.max(0, size - overhead))
    let put = 0
    let accepted = 0
    while (put < count && !data.signal.aborted) {
      const end = Math.min(count, put + burst)
      for (; put < end; ) {
        put++
        if (await data.putIntoStream({ n: put, of: count, pad })) accepted++
      }
      if (put >= count) break
      if (intervalMs > 0) await sleep(intervalMs, data.signal)
      else await new Promise<void>((r) => setImmediate(r))
    }
    return { put, accepted }
  })
  flow.to(produce).end()
  return flow
}
