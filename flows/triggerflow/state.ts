/**
 * Recoverable workflow state: a plain key/value map that is part of the execution snapshot and
 * never part of the runtime stream.
 */
export class StateStore {
  private readonly values = new Map<string, unknown>()

  /** The value at `key`, or `fallback` when unset. */
  get<V = unknown>(key: string, fallback?: V): V | undefined {
    return this.values.has(key) ? (this.values.get(key) as V) : fallback
  }

  /** Sets `key` to `value`. */
  set(key: string, value: unknown): void {
    this.values.set(key, value)
  }

  /** Appends `value` to the list at `key`, making the list when absent (a scalar becomes its first element). */
  append(key: string, value: unknown): void {
    const current = this.values.get(key)
    if (current === undefined) this.values.set(key, [value])
    else if (Array.isArray(current)) current.push(value)
    else this.values.set(key, [current, value])
  }

  /** Removes `key`; returns whether it was set. */
  delete(key: string): boolean {
    return this.values.delete(key)
  }

  /** True when `key` is set. */
  has(key: string): boolean {
    return this.values.has(key)
  }

  /** A deep copy of the whole state, safe to hand out. */
  snapshot(): Record<string, unknown> {
    return structuredClone(Object.fromEntries(this.values))
  }
}
