/**
 * `client.stream(...)`: a subscription seen as an async iterable, ending like the engine's
 * `getRuntimeStream` — on `stream_end`, or quietly when no event came within `timeout`.
 */
import type { FlowcastError } from '@flowcast/protocol'
import type { GapInfo, StreamEvent, SubscribeHandlers, SubscriptionHandle } from './types.ts'

export type Subscribe = <T>(
  handlers: SubscribeHandlers<T>,
  onFinish: (err: FlowcastError | null) => void,
) => SubscriptionHandle

/** Iterates one execution's events; `subscribe` is called on the first `next()`. */
export async function* iterateStream<T>(
  subscribe: Subscribe,
  options: { since?: number; timeout?: number | null; onGap?: (gap: GapInfo) => void },
): AsyncGenerator<StreamEvent<T>, void, undefined> {
  const buffer: StreamEvent<T>[] = []
  let head = 0
  let finished = false
  let failure: FlowcastError | null = null
  let wake: (() => void) | null = null
  const notify = (): void => {
    const w = wake
    wake = null
    w?.()
  }
  const handlers: SubscribeHandlers<T> = {
    onEvent: (ev) => {
      buffer.push(ev)
      notify()
    },
  }
  if (options.since !== undefined) handlers.since = options.since
  if (options.onGap) handlers.onGap = options.onGap
  const sub = subscribe<T>(handlers, (err) => {
    finished = true
    failure = err
    notify()
  })
  const timeout = options.timeout ?? null
  try {
    for (;;) {
      if (head < buffer.length) {
        const ev = buffer[head]!
        head++
        // Keep the buffer from growing with everything ever read.
        if (head > 1024 && head * 2 > buffer.length) {
          buffer.splice(0, head)
          head = 0
        }
        yield ev
        continue
      }
      if (finished) {
        if (failure) throw failure
        return
      }
      let timer: ReturnType<typeof setTimeout> | undefined
      const arrived = await new Promise<boolean>((resolve) => {
        wake = () => resolve(true)
        if (timeout !== null) timer = setTimeout(() => resolve(false), timeout)
      })
      if (timer !== undefined) clearTimeout(timer)
      wake = null
      if (!arrived) return
    }
  } finally {
    sub.unsubscribe()
  }
}
