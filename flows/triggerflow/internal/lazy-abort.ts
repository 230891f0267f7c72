/**
 * An execution's abort: the AbortSignal (an EventTarget) is made only when something asks for
 * `data.signal`. Most executions are never aborted and most chunks never read the signal, yet the
 * engine checks `aborted` at every step; a signal made per execution for those checks was 1.5% of
 * a server's execution start (issue 18).
 */
export class LazyAbort {
  #controller: AbortController | undefined
  #aborted = false
  #reason: unknown

  get aborted(): boolean {
    return this.#aborted
  }

  /** The abort's reason, as the signal gives it (an AbortError for `abort()` without one). */
  get reason(): unknown {
    return this.#aborted ? this.signal.reason : undefined
  }

  /** The signal, aborted already when `abort` came first. */
  get signal(): AbortSignal {
    if (!this.#controller) {
      this.#controller = new AbortController()
      if (this.#aborted) this.#controller.abort(this.#reason)
    }
    return this.#controller.signal
  }

  /** Aborts once; later calls are ignored, as AbortController's are. */
  abort(reason?: unknown): void {
    if (this.#aborted) return
    this.#aborted = true
    this.#reason = reason
    this.#controller?.abort(reason)
  }
}
