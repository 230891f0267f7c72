/**
 * Connections held per client address, WebSockets and SSE responses alike, against one cap
 * (`maxConnectionsPerAddress`): a client cannot get around the cap by switching transport.
 */
export class AddressSlots {
  readonly #held = new Map<string, number>()

  constructor(readonly max: number) {}

  /** Takes a slot for `address`; false (nothing taken) when it holds `max` already. */
  take(address: string): boolean {
    const n = this.#held.get(address) ?? 0
    if (n >= this.max) return false
    this.#held.set(address, n + 1)
    return true
  }

  /** Gives back one slot of `address`. */
  release(address: string): void {
    const n = (this.#held.get(address) ?? 1) - 1
    if (n <= 0) this.#held.delete(address)
    else this.#held.set(address, n)
  }

  /** Slots `address` holds now. */
  held(address: string): number {
    return this.#held.get(address) ?? 0
  }
}
