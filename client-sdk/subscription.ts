/**
 * One subscription to one execution: the exactly-once, in-order filter between the wire and the
 * application. It owns `lastSeq`; every (re)subscribe asks for `since = lastSeq`, so replays after
 * reconnects only ever continue the sequence.
 */

import type { ErrorFrame, GapFrame, StreamEndFrame, SubscribedFrame, WireEvent } from '@flowcast/protocol'
import { FlowcastError, type FlowcastErrorCode, isRetryable } from '@flowcast/protocol'
import type { SubscribeHandlers, SubscriptionHandle } from './types.ts'

/** What a subscription needs from its client. */
export interface SubscriptionHost {
  /** Sends `subscribe { since }` now if the socket is open; returns the request id, or null when it will be sent on open. */
  sendSubscribe(sub: Subscription<any>): string | null
  /** Sends `unsubscribe` if the socket is open (the reply is of no interest). */
  sendUnsubscribe(sub: Subscription<any>): void
  /** Drops the subscription from the client: frames for its execution are ignored from now on. */
  forget(sub: Subscription<any>): void
  /** Reports an exception thrown by application code. */
  reportHandlerError(err: unknown): void
  /** Schedules a resubscribe later (after rate limiting); returns a cancel function. */
  later(fn: () => void, ms: number): () => void
}

const RETRY_AFTER_MS = 1_000

/** The live state of one `client.subscribe(...)`. */
export class Subscription<T = unknown> implements SubscriptionHandle {
  readonly executionId: string
  #lastSeq: number
  #ended = false
  /** onFinish has run. */
  #finished = false
  /** Request id of the subscribe in flight; events that do not continue the sequence are stale while set. */
  #awaiting: string | null = null
  /** Cancels the one scheduled retry of a refused subscribe, if any. */
  #cancelRetry: (() => void) | null = null
  /** `already_subscribed` refusals since the last accepted subscribe. */
  #duplicateRefusals = 0
  readonly #handlers: SubscribeHandlers<T>
  readonly #host: SubscriptionHost
  /** Called once when the subscription stops for any reason (used by `client.stream`). */
  readonly onFinish?: (err: FlowcastError | null) => void

  constructor(
    executionId: string,
    handlers: SubscribeHandlers<T>,
    host: SubscriptionHost,
    onFinish?: (err: FlowcastError | null) => void,
  ) {
    this.executionId = executionId
    this.#handlers = handlers
    this.#host = host
    this.#lastSeq = Math.max(0, Math.floor(handlers.since ?? 0))
    if (onFinish) this.onFinish = onFinish
  }

  get lastSeq(): number {
    return this.#lastSeq
  }

  get ended(): boolean {
    return this.#ended
  }

  /** The request id of the subscribe this subscription waits for, if any. */
  get awaiting(): string | null {
    return this.#awaiting
  }

  unsubscribe(): void {
    if (this.#ended) return
    this.#finish(null, true)
  }

  /** The socket (re)opened, or a refused subscribe is tried again: ask for everything after lastSeq. */
  resume(): void {
    if (this.#ended) return
    this.#subscribeNow(false)
  }

  /** The socket went away: nothing in flight, and no retry scheduled for it, belongs to the next socket. */
  suspend(): void {
    this.#awaiting = null
    this.#duplicateRefusals = 0
    this.#cancelPendingRetry()
  }

  onSubscribed(frame: SubscribedFrame): void {
    if (this.#ended || String(frame.id) !== this.#awaiting) return
    this.#awaiting = null
    this.#duplicateRefusals = 0
    this.#call(this.#handlers.onStatus, frame.status)
    this.#call(this.#handlers.onPresence, frame.subscribers)
  }

  /** The server refused our subscribe. */
  onSubscribeError(frame: ErrorFrame): void {
    if (this.#ended) return
    this.#awaiting = null
    if (frame.code === 'already_subscribed') {
      // The server still holds an earlier subscription of this socket (say, an unsubscribe of ours
      // was refused): replace it with one that continues from lastSeq. Seqs are filtered here, so
      // whatever the old one still delivers is harmless. A second refusal in a row waits a little,
      // so a server that keeps saying so cannot make us spin.
      this.#duplicateRefusals++
      if (this.#duplicateRefusals === 1) this.#subscribeNow(true)
      else this.#retryLater(true)
      return
    }
    const err = new FlowcastError(frame.code as FlowcastErrorCode, frame.message)
    if (isRetryable(frame.code)) {
      this.#call(this.#handlers.onError, err)
      this.#retryLater(false)
      return
    }
    this.#finish(err, false)
  }

  onEvents(items: readonly WireEvent[]): void {
    for (const item of items) {
      if (this.#ended) return
      if (item.seq <= this.#lastSeq) continue
      if (item.seq !== this.#lastSeq + 1) {
        // Frames of the subscription we replaced may still be on the wire; the new one replays.
        if (this.#awaiting !== null) continue
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
      if (this.#awaiting !== null) return
      this.#protocolError(`gap from ${frame.from} does not follow seq ${this.#lastSeq}`)
      return
    }
    this.#lastSeq = frame.to
    this.#call(this.#handlers.onGap, { from: frame.from, to: frame.to })
  }

  onStreamEnd(frame: StreamEndFrame): void {
    if (this.#ended) return
    if (frame.lastSeq > this.#lastSeq) {
      if (this.#awaiting !== null) return
      this.#protocolError(`stream_end at seq ${frame.lastSeq} but only ${this.#lastSeq} arrived`)
      return
    }
    const info =
      frame.by === undefined
        ? { reason: frame.reason, lastSeq: frame.lastSeq }
        : {
            reason: frame.reason,
            lastSeq: frame.lastSeq,
            by: frame.by,
          }
    this.#ended = true
    this.#call(this.#handlers.onEnd, info)
    this.#finish(null, true)
  }

  onStatus(status: Parameters<NonNullable<SubscribeHandlers['onStatus']>>[0]): void {
    if (!this.#ended) this.#call(this.#handlers.onStatus, status)
  }

  onPresence(subscribers: number): void {
    if (!this.#ended) this.#call(this.#handlers.onPresence, subscribers)
  }

  /** An error that concerns this subscription but does not end it. */
  reportError(err: FlowcastError): void {
    if (!this.#ended) this.#call(this.#handlers.onError, err)
  }

  /** Ends the subscription from outside: the client closed (`err` null) or the server refused us for good. */
  terminate(err: FlowcastError | null): void {
    if (!this.#finished) this.#finish(err, false)
  }

  #protocolError(message: string): void {
    this.#call(this.#handlers.onError, new FlowcastError('protocol_error', `${this.executionId}: ${message}`))
    // Start over from what the application already has; the server replays the rest.
    this.#subscribeNow(true)
  }

  /**
   * Sends the one subscribe this subscription waits for, after an unsubscribe when the server may
   * still hold an older one. Whatever retry was scheduled is superseded: at most one subscribe of
   * ours is ever in flight or pending, so the server never sees two on the same socket.
   */
  #subscribeNow(replace: boolean): void {
    this.#cancelPendingRetry()
    if (replace) this.#host.sendUnsubscribe(this)
    this.#awaiting = this.#host.sendSubscribe(this)
  }

  /** Schedules the single retry of a refused subscribe (replacing any earlier one). */
  #retryLater(replace: boolean): void {
    this.#cancelPendingRetry()
    const cancel = this.#host.later(() => {
      if (this.#cancelRetry !== cancel) return
      this.#cancelRetry = null
      if (!this.#ended) this.#subscribeNow(replace)
    }, RETRY_AFTER_MS)
    this.#cancelRetry = cancel
  }

  #cancelPendingRetry(): void {
    const cancel = this.#cancelRetry
    this.#cancelRetry = null
    cancel?.()
  }

  #finish(err: FlowcastError | null, tellServer: boolean): void {
    this.#ended = true
    this.#cancelPendingRetry()
    if (tellServer) this.#host.sendUnsubscribe(this)
    this.#host.forget(this)
    if (err) this.#call(this.#handlers.onError, err)
    if (this.#finished) return
    this.#finished = true
    try {
      this.onFinish?.(err)
    } catch (e) {
      this.#host.reportHandlerError(e)
    }
  }

  #call<A>(fn: ((arg: A) => void) | undefined, arg: A): void {
    if (!fn) return
    try {
      fn(arg)
    } catch (err) {
      this.#host.reportHandlerError(err)
    }
  }
}
