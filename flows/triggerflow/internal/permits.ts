/**
 * An execution's concurrency limit: permits for running chunk handlers. A handler awaiting an
 * internal dispatch gives its permit back and takes one again afterwards, so a chain never waits
 * on itself even at a limit of 1.
 */
export class Permits {
  #free: number
  #waiters: (() => void)[] = []

  /** `limit` permits (at least 1; unbounded when absent). */
  constructor(limit?: number) {
    this.#free = Math.max(1, Math.floor(limit ?? Number.POSITIVE_INFINITY))
  }

  /** Resolves once a permit is taken. */
  acquire(): Promise<void> {
    if (this.#free > 0) {
      this.#free--
      return Promise.resolve()
    }
    return new Promise((resolve) => this.#waiters.push(resolve))
  }

  /** Gives a permit back, to the longest waiter first. */
  release(): void {
    const next = this.#waiters.shift()
    if (next) next()
    else this.#free++
  }
}
