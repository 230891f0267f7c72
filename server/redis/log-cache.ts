/**
 * A node-local copy of a remote execution's retained log, bounded by the same retention as the
 * engine's log on the running node, so every node evicts the same events and announces the same
 * gaps.
 */
import type { BrokerEntry, BrokerRead } from '../broker.ts'

/** Retained entries of one remote log, oldest first. */
export class LogCache {
  readonly #entries: BrokerEntry[] = []
  #head = 0
  #bytes = 0
  #lastSeq = 0
  readonly #maxEvents: number
  readonly #maxBytes: number

  constructor(retention: { maxEvents: number; maxBytes: number }) {
    this.#maxEvents = Math.max(1, retention.maxEvents)
    this.#maxBytes = Math.max(1, retention.maxBytes)
  }

  get lastSeq(): number {
    return this.#lastSeq
  }

  /** Seq of the oldest retained entry (lastSeq + 1 when none). */
  get firstSeq(): number {
    return this.#entries[this.#head]?.seq ?? this.#lastSeq + 1
  }

  get size(): number {
    return this.#entries.length - this.#head
  }

  /**
   * Adds the next entry. An entry beyond lastSeq + 1 means Redis lost events (an outage longer
   * than retention, a Redis restart without persistence): the older entries are dropped so that
   * readers behind the hole are told a gap instead of skipping it silently.
   */
  append(entry: BrokerEntry): boolean {
    if (entry.seq <= this.#lastSeq) return false
    if (entry.seq > this.#lastSeq + 1 && this.size > 0) {
      this.#entries.length = 0
      this.#head = 0
      this.#bytes = 0
    }
    this.#entries.push(entry)
    this.#bytes += entry.json.length
    this.#lastSeq = entry.seq
    this.#evict()
    return true
  }

  /** Up to `limit` entries after `after`, with the gap before the first retained one. */
  read(after: number, limit: number): BrokerRead {
    const first = this.firstSeq
    const out: BrokerRead = { entries: [] }
    let from = Math.max(0, after) + 1
    if (from < first && from <= this.#lastSeq) {
      out.gap = { from, to: first - 1 }
      from = first
    }
    const start = this.#head + (from - first)
    const end = Math.min(this.#entries.length, start + Math.max(0, limit))
    for (let i = Math.max(start, this.#head); i < end; i++) out.entries.push(this.#entries[i]!)
    return out
  }

  #evict(): void {
    while (this.size > 1 && (this.size > this.#maxEvents || this.#bytes > this.#maxBytes)) {
      this.#bytes -= this.#entries[this.#head]!.json.length
      this.#head++
    }
    if (this.#head > 1024 && this.#head * 2 > this.#entries.length) {
      this.#entries.splice(0, this.#head)
      this.#head = 0
    }
  }
}
