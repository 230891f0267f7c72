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

/**
 * The pauses of one run: `sleep(ms)` resolves after `ms`, or at once when `signal` aborts (cancel
 * must not wait out a long interval). One abort listener for the whole run, not one added and
 * removed per pause: with a pause per item, the listener's add and remove on the AbortSignal were
 * the costliest part of an item on the running node (issue 18). `end()` removes it.
 */
function pauses(signal: AbortSignal): { sleep(ms: number): Promise<void>; end(): void } {
  let timer: ReturnType<typeof setTimeout> | undefined
  let wake: (() => void) | undefined
  const abort = () => {
    clearTimeout(timer)
    wake?.()
  }
  signal.addEventListener('abort', abort, { once: true })
  return {
    sleep: (ms) =>
      new Promise((resolve) => {
        if (signal.aborted) return resolve()
        wake = resolve
        timer = setTimeout(resolve, ms)
      }),
    end: () => signal.removeEventListener('abort', abort),
  }
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
    const signal = data.signal
    const pause = pauses(signal)
    let put = 0
    let accepted = 0
    try {
      while (put < count && !signal.aborted) {
        const end = Math.min(count, put + burst)
        for (; put < end; ) {
          put++
          if (await data.putIntoStream({ n: put, of: count, pad })) accepted++
        }
        if (put >= count) break
        if (intervalMs > 0) await pause.sleep(intervalMs)
        else await new Promise<void>((r) => setImmediate(r))
      }
    } finally {
      pause.end()
    }
    return { put, accepted }
  })
  flow.to(produce).end()
  return flow
}
