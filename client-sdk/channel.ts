/**
 * One execution on one client: the single wire subscription (over the socket, or over SSE while
 * the socket cannot connect) shared by every local subscription of that execution, reference
 * counted. The wire always asks for `since` = the least `lastSeq` of its watchers, so a watcher
 * that joins behind the others makes it start over from there; each watcher drops what it already
 * has. The channel also owns the subscription's own token and its refresh.
 */

import type { ErrorFrame, ServerFrame, WireEvent } from '@flowcast/protocol'
import { FlowcastError, type FlowcastErrorCode, isRetryable } from '@flowcast/protocol'
import type { Subscription, SubscriptionHost } from './subscription.ts'
import type { SubscribeHandlers, TokenRequest } from './types.ts'

/** What a channel needs from its client. */
export interface ChannelHost {
  /** Sends `subscribe` now if the socket is open; returns the request id, or null (it is sent on open). */
  sendSubscribe(executionId: string, since: number, token: string | undefined): string | null
  /** Sends `unsubscribe` if the socket is open (the reply is of no interest). */
  sendUnsubscribe(executionId: string): void
  /** Opens the execution's SSE stream from `since`; frames go to `receive`; returns its stop. */
  openSse(channel: Channel, since: number, token: string | undefined): () => void
  /** True while subscriptions travel over SSE (the socket cannot connect). */
  overSse(): boolean
  /** Asks the client's `getToken` for this execution; undefined when there is none. */
  getToken?: ((request: TokenRequest) => Promise<string | undefined>) | undefined
  /** The channel has no watcher left and let go of the wire. */
  forget(channel: Channel): void
  reportHandlerError(err: unknown): void
  /** Schedules `fn` after `ms`; returns a cancel function. */
  later(fn: () => void, ms: number): () => void
}

/** Refusals that a fresh token may cure. */
const TOKEN_REFUSALS: ReadonlySet<string> = new Set(['token_expired', 'unauthorized'])
const RETRY_AFTER_MS = 1_000
/** Token refreshes in a row (none accepted) before the subscription gives up. */
const MAX_REFRESHES = 4

/** The wire side of one execution's subscriptions on one client. */
export class Channel implements SubscriptionHost {
  readonly executionId: string
  readonly #subs = new Set<Subscription<any>>()
  readonly #host: ChannelHost
  /** Request id of the subscribe in flight over the socket. */
  #awaiting: string | null = null
  /** The seq the wire has reached: the `since` it asked for, then the newest seq it carried. */
  #wireAt = 0
  /** True once a subscribe was sent over the current socket (the server may hold one). */
  #onSocket = false
  #stopSse: (() => void) | null = null
  #cancelRetry: (() => void) | null = null
  #duplicateRefusals = 0
  #refreshes = 0
  /** True while a token is being asked for: the wire opens when it comes, not before. */
  #asking = false
  #token: string | undefined
  readonly #tokenSource: (() => string | undefined | Promise<string | undefined>) | undefined
  #closed = false

  constructor(executionId: string, host: ChannelHost, token: SubscribeHandlers['token']) {
    this.executionId = executionId
    this.#host = host
    if (typeof token === 'function') this.#tokenSource = token
    else this.#token = token
  }

  /** The subscription's own token as last given or refreshed (undefined: the client's credential). */
  get token(): string | undefined {
    return this.#token
  }

  get awaiting(): boolean {
    return this.#awaiting !== null
  }

  /** The request id of the subscribe this channel waits for, if any. */
  get awaitingId(): string | null {
    return this.#awaiting
  }

  /** How many local subscriptions share this channel. */
  get watchers(): number {
    return this.#subs.size
  }

  /** Adds a watcher; one that is behind what the wire already carried makes it start over. */
  add(sub: Subscription<any>): void {
    const first = this.#subs.size === 0
    this.#subs.add(sub)
    sub.attach(this)
    if (first) this.#open()
    else if (sub.lastSeq < this.#wireAt) this.restart()
  }

  leave(sub: Subscription<any>): void {
    if (!this.#subs.delete(sub) || this.#subs.size > 0 || this.#closed) return
    this.#release(true)
  }

  /** The socket (re)opened: move to it (from SSE, if so) and ask for everything after what all have. */
  resume(): void {
    if (this.#closed || this.#asking) return
    this.#stopSseNow()
    this.#subscribeNow(false)
  }

  /** The socket went away: nothing in flight, and no retry scheduled for it, belongs to the next socket. */
  suspend(): void {
    this.#awaiting = null
    this.#onSocket = false
    this.#duplicateRefusals = 0
    this.#cancelPendingRetry()
  }

  /** The socket cannot connect: carry on over SSE until it can. */
  fallBack(): void {
    if (this.#closed || this.#stopSse || this.#asking) return
    this.#openSse()
  }

  restart(): void {
    if (this.#closed || this.#asking) return
    if (this.#stopSse) {
      this.#stopSseNow()
      this.#openSse()
    } else this.#subscribeNow(true)
  }

  /** A frame about this execution, from the socket or the SSE stream. */
  receive(frame: ServerFrame): void {
    if (this.#closed) return
    switch (frame.type) {
      case 'subscribed':
        if (String(frame.id) !== this.#awaiting) return
        this.#awaiting = null
        this.#duplicateRefusals = 0
        this.#refreshes = 0
        for (const sub of [...this.#subs]) {
          sub.onStatus(frame.status)
          sub.onPresence(frame.subscribers)
        }
        return
      case 'event': {
        const ev: WireEvent = { seq: frame.seq, ts: frame.ts, data: frame.data }
        if (frame.source !== undefined) ev.source = frame.source
        if (frame.attempt !== undefined) ev.attempt = frame.attempt
        this.#events([ev])
        return
      }
      case 'events':
        this.#events(frame.items)
        return
      case 'gap':
        this.#wireAt = Math.max(this.#wireAt, frame.to)
        for (const sub of [...this.#subs]) sub.onGap(frame)
        return
      case 'stream_end':
        for (const sub of [...this.#subs]) sub.onStreamEnd(frame)
        return
      case 'status':
        // An SSE response opens with the status: its token was taken, as `subscribed` says on the socket.
        if (this.#stopSse) this.#refreshes = 0
        for (const sub of [...this.#subs]) sub.onStatus(frame.status)
        return
      case 'presence':
        for (const sub of [...this.#subs]) sub.onPresence(frame.subscribers)
        return
      case 'error':
        this.#error(frame)
        return
    }
  }

  /** An error that concerns every watcher but ends none. */
  reportError(err: FlowcastError): void {
    for (const sub of [...this.#subs]) sub.reportError(err)
  }

  /** The SSE stream ended without `stream_end` (or failed): open it again after a pause. */
  sseClosed(err: FlowcastError | null): void {
    if (this.#closed || !this.#stopSse) return
    this.#stopSse = null
    if (err && TOKEN_REFUSALS.has(err.code)) {
      this.#refresh(err)
      return
    }
    if (err && err.code === 'not_found') {
      this.#end(err)
      return
    }
    // A cut or a failed response is like a socket drop: invisible to the application, resumed from lastSeq.
    this.#retryLater(() => {
      if (this.#host.overSse()) this.#openSse()
    })
  }

  /** Ends every watcher (the client closed: `err` null; or a refusal for good). */
  terminate(err: FlowcastError | null): void {
    this.#end(err)
  }

  reportHandlerError(err: unknown): void {
    this.#host.reportHandlerError(err)
  }

  #open(): void {
    // A token function is asked before the first subscribe: without it the socket's rights would decide.
    if (this.#tokenSource && this.#token === undefined) void this.#ask(this.#tokenSource, 'unauthorized')
    else if (this.#host.overSse()) this.#openSse()
    else this.#subscribeNow(false)
  }

  #events(items: readonly WireEvent[]): void {
    const last = items[items.length - 1]
    if (last) this.#wireAt = Math.max(this.#wireAt, last.seq)
    for (const sub of [...this.#subs]) sub.onEvents(items)
  }

  #since(): number {
    let since = Number.POSITIVE_INFINITY
    for (const sub of this.#subs) since = Math.min(since, sub.lastSeq)
    return Number.isFinite(since) ? since : 0
  }

  /**
   * Sends the one subscribe this channel waits for, after an unsubscribe when the server may
   * still hold an older one. Whatever retry was scheduled is superseded: at most one subscribe of
   * ours is ever in flight or pending, so the server never sees two on the same socket.
   */
  #subscribeNow(replace: boolean): void {
    this.#cancelPendingRetry()
    if (replace && this.#onSocket) this.#host.sendUnsubscribe(this.executionId)
    const since = this.#since()
    this.#wireAt = since
    this.#awaiting = this.#host.sendSubscribe(this.executionId, since, this.#token)
    this.#onSocket = this.#awaiting !== null
  }

  #openSse(): void {
    this.#cancelPendingRetry()
    this.#awaiting = null
    const since = this.#since()
    this.#wireAt = since
    this.#stopSse = this.#host.openSse(this, since, this.#token)
  }

  #stopSseNow(): void {
    const stop = this.#stopSse
    this.#stopSse = null
    stop?.()
  }

  #error(frame: ErrorFrame): void {
    const err = new FlowcastError(frame.code as FlowcastErrorCode, frame.message)
    const answersOurs = frame.id !== undefined && String(frame.id) === this.#awaiting
    // `token_expired` without a request id: the server ended our subscription as its token ran out.
    if (!answersOurs && frame.code !== 'token_expired') {
      this.reportError(err)
      return
    }
    this.#awaiting = null
    if (!answersOurs) this.#onSocket = false
    if (this.#stopSse) {
      // Over SSE: the server ended the stream as its token ran out; a fresh token opens it again.
      this.#stopSseNow()
      this.#refresh(err)
      return
    }
    if (frame.code === 'already_subscribed') {
      // The server still holds an earlier subscription of this socket (say, an unsubscribe of ours
      // was refused): replace it with one that continues from lastSeq. Seqs are filtered by each
      // watcher, so whatever the old one still delivers is harmless. A second refusal in a row
      // waits a little, so a server that keeps saying so cannot make us spin.
      this.#onSocket = true
      this.#duplicateRefusals++
      if (this.#duplicateRefusals === 1) this.#subscribeNow(true)
      else this.#retryLater(() => this.#subscribeNow(true))
      return
    }
    if (TOKEN_REFUSALS.has(frame.code)) {
      this.#refresh(err)
      return
    }
    if (isRetryable(frame.code)) {
      this.reportError(err)
      this.#retryLater(() => this.#subscribeNow(false))
      return
    }
    this.#end(err)
  }

  /** The token was refused or ran out: ask for a fresh one and subscribe again from where all are. */
  #refresh(err: FlowcastError): void {
    const source: (() => unknown) | undefined =
      this.#tokenSource ??
      (this.#host.getToken
        ? () =>
            this.#host.getToken!({
              executionId: this.executionId,
              reason: err.code === 'token_expired' ? 'expired' : 'refused',
            })
        : undefined)
    if (!source || this.#refreshes >= MAX_REFRESHES) {
      this.#end(err)
      return
    }
    this.#refreshes++
    // The first refresh is at once (an expiry is routine); a token refused again waits a little.
    if (this.#refreshes === 1) void this.#ask(source, err.code)
    else this.#retryLater(() => void this.#ask(source, err.code))
  }

  /** Asks `source` for this subscription's token, then opens the wire with it (SSE while on it). */
  async #ask(source: () => unknown, code: FlowcastErrorCode): Promise<void> {
    this.#asking = true
    let token: unknown
    try {
      token = await source()
    } catch (cause) {
      this.#asking = false
      if (!this.#closed) this.#end(new FlowcastError(code, 'getToken failed', { cause }))
      return
    }
    this.#asking = false
    if (this.#closed) return
    this.#token = typeof token === 'string' ? token : undefined
    if (this.#host.overSse()) {
      this.#stopSseNow()
      this.#openSse()
    } else this.#subscribeNow(false)
  }

  /** Schedules the single retry (replacing any earlier one). */
  #retryLater(fn: () => void): void {
    this.#cancelPendingRetry()
    const cancel = this.#host.later(() => {
      if (this.#cancelRetry !== cancel) return
      this.#cancelRetry = null
      if (!this.#closed) fn()
    }, RETRY_AFTER_MS)
    this.#cancelRetry = cancel
  }

  #cancelPendingRetry(): void {
    const cancel = this.#cancelRetry
    this.#cancelRetry = null
    cancel?.()
  }

  #end(err: FlowcastError | null): void {
    if (this.#closed) return
    this.#release(false)
    for (const sub of [...this.#subs]) sub.finish(err)
    this.#subs.clear()
  }

  #release(tellServer: boolean): void {
    this.#closed = true
    this.#cancelPendingRetry()
    this.#stopSseNow()
    if (tellServer && this.#onSocket) this.#host.sendUnsubscribe(this.executionId)
    this.#awaiting = null
    this.#onSocket = false
    this.#host.forget(this)
  }
}
