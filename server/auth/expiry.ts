/**
 * Ends what a credential authorised once the credential runs out: entries are bucketed by the
 * second their token's `exp` names, and one timer per wheel sweeps the buckets that have come
 * due, once a second, while the wheel holds anything. That is a map lookup per second, not a scan
 * per event or a timer per subscription (tokens minted together share one bucket), and an entry
 * ends at most one sweep (about a second) after its token's expiry.
 */

/** How often due buckets are swept. */
const SWEEP_MS = 1000

/** Entries that each end at a second (a token's `exp`). */
export class ExpiryWheel<T> {
  readonly #buckets = new Map<number, Set<T>>()
  readonly #onExpire: (entry: T) => void
  #size = 0
  /** The next second to sweep: every bucket before it has been swept. */
  #next = 0
  #timer: ReturnType<typeof setInterval> | undefined

  /** `onExpire` is called once for each entry whose second has come, unless it was deleted first. */
  constructor(onExpire: (entry: T) => void) {
    this.#onExpire = onExpire
  }

  /** Entries waiting for their second. */
  get size(): number {
    return this.#size
  }

  /** Ends `entry` once the clock reaches second `exp`; returns the key delete() takes. */
  add(entry: T, exp: number): number {
    if (this.#timer === undefined) {
      this.#next = nowSeconds()
      this.#timer = setInterval(() => this.#sweep(), SWEEP_MS)
      this.#timer.unref()
    }
    // Already due (the clock moved past it since the check): the next sweep takes it.
    const at = Math.max(exp, this.#next)
    let bucket = this.#buckets.get(at)
    if (!bucket) {
      bucket = new Set()
      this.#buckets.set(at, bucket)
    }
    if (!bucket.has(entry)) {
      bucket.add(entry)
      this.#size++
    }
    return at
  }

  /** Forgets `entry` (it ended for another reason); `key` is what add() returned. */
  delete(entry: T, key: number): void {
    const bucket = this.#buckets.get(key)
    if (!bucket?.delete(entry)) return
    this.#size--
    if (bucket.size === 0) this.#buckets.delete(key)
    if (this.#size === 0) this.stop()
  }

  /** Drops every entry and the timer (server shutdown). */
  stop(): void {
    if (this.#timer !== undefined) clearInterval(this.#timer)
    this.#timer = undefined
    if (this.#size > 0) this.#buckets.clear()
    this.#size = 0
  }

  #sweep(): void {
    const now = nowSeconds()
    // A token is valid while now < exp, so the bucket of second `now` is due too.
    for (; this.#next <= now; this.#next++) {
      const bucket = this.#buckets.get(this.#next)
      if (!bucket) continue
      this.#buckets.delete(this.#next)
      this.#size -= bucket.size
      for (const entry of bucket) this.#onExpire(entry)
    }
    if (this.#size === 0) this.stop()
  }
}

function nowSeconds(): number {
  return Math.floor(Date.now() / 1000)
}
