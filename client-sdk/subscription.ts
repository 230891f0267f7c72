/**
 * One `client.subscribe(...)`: the exactly-once, in-order filter between its execution's channel
 * and the application. Each owns its `lastSeq`, so several subscriptions of one execution, each
 * from its own `since`, share one wire subscription and still each see exactly their own range.
 */

import type { GapFrame, StreamEndFrame, WireEvent } from '@flowcast/protocol'
import { FlowcastError } from '@flowcast/protocol'
import type { ExecutionStatus, SubscribeHandlers, SubscriptionHandle } from './types.ts'

/** What a subscription needs from its channel. */
export interface SubscriptionHost {
  /** True while a (re)subscribe is in flight: frames that do not continue the sequence are stale. */
  readonly awaiting: boolean
  /** The sequence broke without a gap: start the wire subscription over from what every watcher has. */
  restart(): void
  /** The subscription ended: the channel lets go of it (and of the wire when it was the last). */
  leave(sub: Subscription<any>): void
  /** Reports an exception thrown by application code. */
  reportHandlerError(err: unknown): void
}

/** The live state of one subscription of an execution. */
export class Subscription<T = unknown> implements SubscriptionHandle {
  readonly executionId: string
  #lastSeq: number
  #ended = false
  /** finish() has run: the channel let go and onFinish was called. */
  #finished = false
  readonly #handlers: SubscribeHandlers<T>
  #host: SubscriptionHost | null = null
  /** Called once when the subscription stops for any reason (used by `client.stream`). */
  readonly onFinish?: (err: FlowcastError | null) => void

  constructor(
    executionId: string,
    handlers: SubscribeHandlers<T>,
    onFinish?: (err: FlowcastError | null) => void,
  ) {
    this.executionId = executionId
    this.#handlers = handlers
    this.#lastSeq = Math.max(0, Math.floor(handlers.since ?? 0))
    if (onFinish) this.onFinish = onFinish
  }

  /** Joins the channel that carries its execution. */
  attach(host: SubscriptionHost): void {
    this.#host = host
  }

  get lastSeq(): number {
    return this.#lastSeq
  }

  get ended(): boolean {
    return this.#ended
  }

  unsubscribe(): void {
    this.finish(null)
  }

  onEvents(items: readonly WireEvent[]): void {
    for (const item of items) {
      if (this.#ended) return
      if (item.seq <= this.#lastSeq) continue
      if (item.seq !== this.#lastSeq + 1) {
        // Frames of a wire subscription being replaced may still arrive; the new one replays.
        if (this.#host?.awaiting) continue
        this.#protocolError(`expected seq ${this.#lastSeq + 1}, received ${item.seq} without a gap`)
        return
      }
      this.#lastSeq = item.seq
      this.#call(this.#handlers.onEvent, item as WireEvent<T>)
    }
  }

  onGap(frame: GapFrame): void {
    if (this.#ended || frame.to <= this.#lastSeq) return
    if (frame.from > this.#lastSeq + 1) {
      if (this.#host?.awaiting) return
      this.#protocolError(`gap from ${frame.from} does not follow seq ${this.#lastSeq}`)
      return
    }
    this.#lastSeq = frame.to
    this.#call(this.#handlers.onGap, { from: frame.from, to: frame.to })
  }

  onStreamEnd(frame: StreamEndFrame): void {
    if (this.#ended) return
    if (frame.lastSeq > this.#lastSeq) {
      if (this.#host?.awaiting) return
      this.#protocolError(`stream_end at seq ${frame.lastSeq} but only ${this.#lastSeq} arrived`)
      return
    }
    const info: { reason: StreamEndFrame['reason']; lastSeq: number; by?: string } = {
      reason: frame.reason,
      lastSeq: frame.lastSeq,
    }
    if (frame.by !== undefined) info.by = frame.by
    this.#ended = true
    this.#call(this.#handlers.onEnd, info)
    this.finish(null)
  }

  onStatus(status: ExecutionStatus): void {
    if (!this.#ended) this.#call(this.#handlers.onStatus, status)
  }

  onPresence(subscribers: number): void {
    if (!this.#ended) this.#call(this.#handlers.onPresence, subscribers)
  }

  /** An error that concerns this subscription but does not end it. */
  reportError(err: FlowcastError): void {
    if (!this.#ended) this.#call(this.#handlers.onError, err)
  }

  /** Ends the subscription: quietly (`err` null: unsubscribed, aborted, stream ended, client closed) or with an error. */
  finish(err: FlowcastError | null): void {
    if (this.#finished) return
    this.#finished = true
    this.#ended = true
    this.#host?.leave(this)
    if (err) this.#call(this.#handlers.onError, err)
    try {
      this.onFinish?.(err)
    } catch (e) {
      this.#host?.reportHandlerError(e)
    }
  }

  #protocolError(message: string): void {
    this.#call(this.#handlers.onError, new FlowcastError('protocol_error', `${this.executionId}: ${message}`))
    // Start over from what the application already has; the server replays the rest.
    this.#host?.restart()
  }

  #call<A>(fn: ((arg: A) => void) | undefined, arg: A): void {
    if (!fn) return
    try {
      fn(arg)
    } catch (err) {
      this.#host?.reportHandlerError(err)
    }
  }
}
