/**
 * A token bucket per socket: `rate` commands a second on average, bursts up to `burst`. Refill is
 * computed from elapsed time on each take, so an idle socket costs no timer.
 */
export class TokenBucket {
  #tokens: number
  #last: number
  /** Consecutive refusals; sustained abuse is judged on this. */
  refusals = 0

  constructor(
    private readonly rate: number,
    private readonly burst: number,
    private readonly now: () => number = monotonicNow,
  ) {
    this.#tokens = burst
    this.#last = this.now()
  }

  /** Takes one token; false when the bucket is empty. */
  take(): boolean {
    const t = this.now()
    this.#tokens = Math.min(this.burst, this.#tokens + ((t - this.#last) / 1000) * this.rate)
    this.#last = t
    if (this.#tokens >= 1) {
      this.#tokens -= 1
      this.refusals = 0
      return true
    }
    this.refusals++
    return false
  }
}

// Shared by every bucket: a bound function per bucket would cost each idle socket its allocation.
function monotonicNow(): number {
  return performance.now()
}
