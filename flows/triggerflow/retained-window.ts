/**
 * The bounded window behind a retained log: entries with consecutive seqs, oldest first, evicted
 * by count and by encoded bytes (the newest is always kept). The engine's RuntimeStreamLog holds
 * one; so does a server node's copy of a log that runs elsewhere, so both evict the same entries
 * and announce the same gaps. A window may also share a node-wide RetentionBudget, which can take
 * more (the newest entry included): readers behind it get a gap all the same.
 */

import type { Retention } from './retention.ts'
import type { BudgetState, RetentionBudget } from './retention-budget.ts'

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
  readonly #budget: RetentionBudget | undefined
  #budgetState: BudgetState = 'open'

  constructor(bounds: Retention, seqOf: (entry: E) => number, budget?: RetentionBudget) {
    this.#maxEvents = bounds.maxEvents
    this.#maxBytes = bounds.maxBytes
    this.#seqOf = seqOf
    this.#budget = budget
  }

  /** Whether the budget counts this window as open (appended to), closed (history) or released. */
  get budgetState(): BudgetState {
    return this.#budgetState
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
    const bytes = entry.json.length
    this.#bytes += bytes
    this.#lastSeq = this.#seqOf(entry)
    while (this.size > 1 && (this.size > this.#maxEvents || this.#bytes > this.#maxBytes)) this.#dropFront()
    this.#compact()
    if (this.#budgetState !== 'released') this.#budget?.appended(this, this.#lastSeq, bytes)
  }

  /** Drops the oldest retained entry, the newest too (the budget's way to take more than retention). */
  dropOldest(): void {
    if (this.size === 0) return
    this.#dropFront()
    this.#compact()
  }

  /** The log closed: nothing more is appended, so the budget may take all of it before open logs. */
  retire(): void {
    if (this.#budgetState !== 'open') return
    this.#budgetState = 'closed'
    this.#budget?.closed(this)
  }

  /** Drops every entry and leaves the budget (the log itself is forgotten). */
  release(): void {
    this.clear()
    this.#budgetState = 'released'
  }

  /** Makes an empty window start after `seq` (a log restored elsewhere goes on from there). */
  startAfter(seq: number): void {
    if (this.size === 0) this.#lastSeq = seq
  }

  /** Drops every retained entry; lastSeq stays. */
  clear(): void {
    const bytes = this.#bytes
    const entries = this.size
    this.#entries.length = 0
    this.#head = 0
    this.#bytes = 0
    if (entries > 0 && this.#budgetState !== 'released') this.#budget?.removed(this, bytes, entries)
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

  #dropFront(): void {
    const bytes = this.#entries[this.#head]!.json.length
    this.#bytes -= bytes
    // The slot is cleared so the entry can be collected before the next compaction.
    this.#entries[this.#head] = undefined as unknown as E
    this.#head++
    if (this.#budgetState !== 'released') this.#budget?.removed(this, bytes, 1)
  }

  #compact(): void {
    // Compact once the dead prefix dominates, so memory follows retention, not history.
    if (this.#head > 1024 && this.#head * 2 > this.#entries.length) {
      this.#entries.splice(0, this.#head)
      this.#head = 0
    }
  }
}
