/**
 * A set of tasks someone awaits: an outside `emit`, a chunk's `data.emit`, a resume. It settles
 * when every task in it has, rejecting with the first error, so errors reach whoever awaited the
 * dispatch (as in TriggerFlow 4.1) while the execution's own bookkeeping goes on apart.
 */

/** A set of tasks someone awaits (an `emit`, a resume): settles when all have, with the first error. */
export class Group {
  #pending = 0
  #error: { value: unknown } | undefined
  #waiters: { resolve(): void; reject(e: unknown): void }[] = []

  add(): void {
    this.#pending++
  }

  done(error?: { value: unknown }): void {
    if (error && !this.#error) this.#error = error
    if (--this.#pending === 0) this.#wake()
  }

  settled(): Promise<void> {
    if (this.#pending === 0) return this.#error ? Promise.reject(this.#error.value) : Promise.resolve()
    return new Promise((resolve, reject) => this.#waiters.push({ resolve, reject }))
  }

  #wake(): void {
    const waiters = this.#waiters
    this.#waiters = []
    for (const w of waiters) this.#error ? w.reject(this.#error.value) : w.resolve()
  }
}
