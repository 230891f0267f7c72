/**
 * The bounded window behind a retained log: entries with consecutive seqs, oldest first, evicted
 * by count and by encoded bytes (the newest is always kept). The engine's RuntimeStreamLog holds
 * one; so does a server node's copy of a log that runs elsewhere, so both evict the same entries
 * and announce the same gaps.
 */

import type { Retention } from './retention.ts'

/** Entries with consecutive seqs, bounded by count and bytes. */
export class RetainedWindow<E extends { readonly json: string }> {
  readonly #entries: E[] = []
  // Evicting from the front of an array is O(n); an offset makes it O(1) amortised.
  #head = 0
  #bytes = 0
  #lastSeq = 0
  readonly #maxEvents: number
  readonly #maxBytes: number
  readonly #seqOf: (entry: E) => number

  constructor(bounds: Retention, seqOf: (entry: E) => number) {
    this.#maxEvents = bounds.maxEvents
    this.#maxBytes = bounds.maxBytes
    this.#seqOf = seqOf
  }

  /** Seq of the newest entry ever pushed (0 when none). */
  get lastSeq(): number {
    return this.#lastSeq
  }

  /** Seq of the oldest retained entry (lastSeq + 1 when none is retained). */
  get firstSeq(): number {
    const first = this.#entries[this.#head]
    return first ? this.#seqOf(first) : this.#lastSeq + 1
  }

  /** Number of retained entries. */
  get size(): number {
    return this.#entries.length - this.#head
  }

  /** Encoded bytes held by retained entries. */
  get bytes(): number {
    return this.#bytes
  }

  /** Adds the entry after lastSeq (the caller keeps seqs consecutive) and evicts what no longer fits. */
  push(entry: E): void {
    this.#entries.push(entry)
    this.#bytes += entry.json.length
    this.#lastSeq = this.#seqOf(entry)
    this.#evict()
  }

  /** Makes an empty window start after `seq` (a log restored elsewhere goes on from there). */
  startAfter(seq: number): void {
    if (this.size === 0) this.#lastSeq = seq
  }

  /** Drops every retained entry; lastSeq stays. */
  clear(): void {
    this.#entries.length = 0
    this.#head = 0
    this.#bytes = 0
  }

  /** Up to `limit` entries after seq `after`, with the span no longer retained before them. */
  read(after: number, limit: number): { gap?: { from: number; to: number }; entries: E[] } {
    const first = this.firstSeq
    const out: { gap?: { from: number; to: number }; entries: E[] } = { entries: [] }
    // Seqs are whole: after 2.5 comes 3, so the cursor is floored (a fractional slot index would
    // read past the entries). A negative or NaN cursor means "from the start", not a gap before seq 1.
    let from = (after >= 0 ? Math.floor(after) : 0) + 1
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
    // Compact once the dead prefix dominates, so memory follows retention, not history.
    if (this.#head > 1024 && this.#head * 2 > this.#entries.length) {
      this.#entries.splice(0, this.#head)
      this.#head = 0
    }
  }
}
