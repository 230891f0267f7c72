/**
 * A token bucket per socket: `rate` commands a second on average, bursts up to `burst`. Refill is
 * computed from elapsed time on each take, so an idle socket costs no timer.
 */
export class TokenBucket {
  #tokens: number
  #last: number
  #windowStart: number
  /**
   * Refusals in the current fixed window of `windowMs`. Sustained abuse is judged on this, not on
   * refusals in a row: a client that floods faster than the rate still gets a token now and then,
   * and a streak counter would be reset by each of them.
   */
  #refusals = 0

  constructor(
    private readonly rate: number,
    private readonly burst: number,
    private readonly now: () => number = monotonicNow,
    private readonly windowMs = 10_000,
  ) {
    this.#tokens = burst
    this.#last = this.now()
    this.#windowStart = this.#last
  }

  /** Refusals within the current window (the window restarts at the first refusal after it ends). */
  get refusals(): number {
    return this.#refusals
  }

  /** Takes one token; false when the bucket is empty. */
  take(): boolean {
    const t = this.now()
    this.#tokens = Math.min(this.burst, this.#tokens + ((t - this.#last) / 1000) * this.rate)
    this.#last = t
    if (this.#tokens >= 1) {
      this.#tokens -= 1
      return true
    }
    if (t - this.#windowStart >= this.windowMs) {
      this.#windowStart = t
      this.#refusals = 0
    }
    this.#refusals++
    return false
  }
}

// Shared by every bucket: a bound function per bucket would cost each idle socket its allocation.
function monotonicNow(): number {
  return performance.now()
}
