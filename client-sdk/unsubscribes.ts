/**
 * Unsubscribes of subscriptions the client has let go of. A refused one (rate limited, say)
 * would leave the server holding a subscription nobody reads for as long as the socket lives,
 * counted against the socket's limit; so it is tried again, on the same socket only.
 */
import { isRetryable } from '@flowcast/protocol'

/** What the tracker needs from its client. */
export interface UnsubscribeHost {
  /** Sends `unsubscribe` if the socket is open; returns its request id, or null when not sent. */
  send(executionId: string): string | null
  /** True while the client has a live subscription to `executionId` (it then owns the server side). */
  watches(executionId: string): boolean
  /** Schedules `fn` after `ms`; returns a cancel function. */
  later(fn: () => void, ms: number): () => void
}

const RETRY_AFTER_MS = 1_000

/** The unsubscribes of one client's current socket. */
export class Unsubscribes {
  /** Request id -> execution, for every unsubscribe of this socket not answered yet. */
  readonly #inFlight = new Map<string, string>()
  /** Execution -> cancel of its one scheduled retry. */
  readonly #retries = new Map<string, () => void>()
  readonly #host: UnsubscribeHost

  constructor(host: UnsubscribeHost) {
    this.#host = host
  }

  /** Tells the server to stop sending `executionId` on this socket. */
  send(executionId: string): void {
    this.#retries.get(executionId)?.()
    this.#retries.delete(executionId)
    const id = this.#host.send(executionId)
    if (id !== null) this.#inFlight.set(id, executionId)
  }

  /** An `ack` arrived; true when it answered one of ours. */
  onAck(id: string): boolean {
    return this.#inFlight.delete(id)
  }

  /** An `error` arrived; true when it answered one of ours (then it needs no other handling). */
  onError(id: string, code: string): boolean {
    const executionId = this.#inFlight.get(id)
    if (executionId === undefined) return false
    this.#inFlight.delete(id)
    // While a subscription to the execution lives, its own (re)subscribe settles the server side;
    // a late unsubscribe from us would cut it off.
    if (!isRetryable(code) || this.#host.watches(executionId) || this.#retries.has(executionId)) return true
    const cancel = this.#host.later(() => {
      if (this.#retries.get(executionId) !== cancel) return
      this.#retries.delete(executionId)
      if (!this.#host.watches(executionId)) this.send(executionId)
    }, RETRY_AFTER_MS)
    this.#retries.set(executionId, cancel)
    return true
  }

  /** The socket is gone (or the client closed): the server dropped its subscriptions with it. */
  reset(): void {
    for (const cancel of this.#retries.values()) cancel()
    this.#retries.clear()
    this.#inFlight.clear()
  }
}
