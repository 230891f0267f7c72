/**
 * `client.stream(...)`: a subscription seen as an async iterable, ending like the engine's
 * `getRuntimeStream` — on `stream_end`, or quietly when no event came within `timeout`. Written as
 * a plain iterator rather than an async generator, so that `return()` (a `break`) and an abort
 * take effect at once even while it waits for the next event.
 */
import { FlowcastError } from '@flowcast/protocol'
import type { StreamEvent, StreamOptions, SubscribeHandlers, SubscriptionHandle } from './types.ts'

export type Subscribe = <T>(
  handlers: SubscribeHandlers<T>,
  onFinish: (err: FlowcastError | null) => void,
) => SubscriptionHandle

/** The error an aborted call rejects with. */
export function abortError(signal: AbortSignal): FlowcastError {
  return new FlowcastError('aborted', 'the call was aborted', { cause: signal.reason })
}

/** Iterates one execution's events; `subscribe` is called on the first `next()`. */
export function iterateStream<T>(
  subscribe: Subscribe,
  options: StreamOptions,
): AsyncIterable<StreamEvent<T>> {
  return {
    [Symbol.asyncIterator]: () => {
      const buffer: StreamEvent<T>[] = []
      let head = 0
      let done = false
      let failure: FlowcastError | null = null
      let sub: SubscriptionHandle | null = null
      let timer: ReturnType<typeof setTimeout> | undefined
      let waiting: ((r: IteratorResult<StreamEvent<T>>) => void) | null = null
      let failWaiting: ((err: FlowcastError) => void) | null = null
      const signal = options.signal

      const stop = (): void => {
        done = true
        if (timer !== undefined) clearTimeout(timer)
        signal?.removeEventListener('abort', onAbort)
        sub?.unsubscribe()
      }
      /** Settles a pending next() with the head of the buffer, or the end. */
      const flush = (): void => {
        if (!waiting) return
        const resolve = waiting
        const reject = failWaiting!
        if (head < buffer.length) {
          waiting = failWaiting = null
          if (timer !== undefined) clearTimeout(timer)
          const value = buffer[head++]!
          // Keep the buffer from growing with everything ever read.
          if (head > 1024 && head * 2 > buffer.length) {
            buffer.splice(0, head)
            head = 0
          }
          resolve({ value, done: false })
        } else if (done) {
          waiting = failWaiting = null
          if (failure) reject(failure)
          else resolve({ value: undefined, done: true })
        }
      }
      const onAbort = (): void => {
        failure = abortError(signal!)
        buffer.length = head = 0
        stop()
        flush()
      }
      const start = (): void => {
        if (signal?.aborted) {
          onAbort()
          return
        }
        signal?.addEventListener('abort', onAbort, { once: true })
        const handlers: SubscribeHandlers<T> = {
          onEvent: (ev) => {
            buffer.push(ev)
            flush()
          },
        }
        if (options.since !== undefined) handlers.since = options.since
        if (options.onGap) handlers.onGap = options.onGap
        if (options.token !== undefined) handlers.token = options.token
        try {
          sub = subscribe<T>(handlers, (err) => {
            if (done) return
            failure = err
            stop()
            flush()
          })
        } catch (err) {
          failure = err as FlowcastError
          stop()
        }
      }
      let started = false
      return {
        next: () => {
          if (!started) {
            started = true
            start()
          }
          return new Promise<IteratorResult<StreamEvent<T>>>((resolve, reject) => {
            waiting = resolve
            failWaiting = reject
            flush()
            if (!waiting || options.timeout == null) return
            timer = setTimeout(() => {
              // Silence for `timeout` ms ends the iteration without an error; the execution goes on.
              stop()
              flush()
            }, options.timeout)
          })
        },
        return: () => {
          stop()
          buffer.length = head = 0
          flush()
          return Promise.resolve({ value: undefined, done: true })
        },
      }
    },
  }
}
