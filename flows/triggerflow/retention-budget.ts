/**
 * A bound on what many retained logs hold together: a server node gives one budget to every log it
 * keeps in memory, so that the node's retained stream bytes stay under one number however many
 * executions it holds. Each log's own Retention still applies first; the budget only takes more.
 *
 * Over the budget, closed logs (their stream ended: the execution finished, or its stream was
 * stopped) go first, the one closed longest ago first, all of its entries at once; then the
 * oldest entries of open logs, across logs, in the order they were appended. A reader behind what
 * was taken is told a gap, as with the log's own retention: never a silent hole.
 *
 * Accounting is O(1) amortised per append: one (window, seq) record per append in a FIFO; a record
 * whose entry already left by other means is stale and skipped when popped, and the FIFO is
 * compacted once stale records outnumber live ones, so its length follows what is retained.
 */

/** The bounds of a RetentionBudget, in bytes of encoded JSON. */
export interface BudgetBounds {
  /** Most bytes held by every log together, open and closed. */
  maxBytes: number
  /** Most bytes held by closed logs together (default: maxBytes). */
  maxClosedBytes?: number
}

/** Where a window stands with its budget. */
export type BudgetState = 'open' | 'closed' | 'released'

/** What the budget needs of a window (RetainedWindow is one). */
interface AnyWindow {
  readonly budgetState: BudgetState
  readonly size: number
  readonly bytes: number
  readonly firstSeq: number
  dropOldest(): void
  clear(): void
}

/** One node-wide bound shared by many RetainedWindows. */
export class RetentionBudget {
  readonly maxBytes: number
  readonly maxClosedBytes: number
  #bytes = 0
  #closedBytes = 0
  /** Entries held by open windows: what the FIFO's live records number. */
  #openEntries = 0
  /** Closed windows holding entries, closed longest ago first (a Set keeps insertion order). */
  readonly #closed = new Set<AnyWindow>()
  // The FIFO of appends to open windows, as two parallel arrays and a head offset (no object per append).
  #fifoWindows: AnyWindow[] = []
  #fifoSeqs: number[] = []
  #fifoHead = 0
  #closedLogsDropped = 0
  #entriesDropped = 0

  constructor(bounds: BudgetBounds) {
    this.maxBytes = bounds.maxBytes
    this.maxClosedBytes = Math.min(bounds.maxClosedBytes ?? bounds.maxBytes, bounds.maxBytes)
  }

  /** Bytes held by every window of this budget. */
  get bytes(): number {
    return this.#bytes
  }

  /** Bytes held by closed windows. */
  get closedBytes(): number {
    return this.#closedBytes
  }

  /** Closed logs whose entries the budget took, since it was made. */
  get closedLogsDropped(): number {
    return this.#closedLogsDropped
  }

  /** Entries of open logs the budget took, since it was made. */
  get entriesDropped(): number {
    return this.#entriesDropped
  }

  /** @internal A window appended an entry of `bytes` with `seq`. */
  appended(window: AnyWindow, seq: number, bytes: number): void {
    this.#bytes += bytes
    if (window.budgetState === 'closed') {
      // Rare (a closed log is not appended to): count it as history, newest closed.
      this.#closedBytes += bytes
      this.#closed.add(window)
    } else {
      this.#openEntries++
      this.#fifoWindows.push(window)
      this.#fifoSeqs.push(seq)
      if (this.#fifoWindows.length - this.#fifoHead > 2 * this.#openEntries + 1024) this.#compact()
    }
    this.#enforce()
  }

  /** @internal A window let `entries` entries of `bytes` go (its own retention, a clear, a release). */
  removed(window: AnyWindow, bytes: number, entries: number): void {
    this.#bytes -= bytes
    if (window.budgetState === 'closed') {
      this.#closedBytes -= bytes
      if (window.size === 0) this.#closed.delete(window)
    } else if (window.budgetState === 'open') this.#openEntries -= entries
  }

  /** @internal A window's log closed: its entries are history now, the first to go. */
  closed(window: AnyWindow): void {
    this.#openEntries -= window.size
    if (window.size === 0) return
    this.#closedBytes += window.bytes
    this.#closed.add(window)
    this.#enforce()
  }

  #enforce(): void {
    while (
      (this.#bytes > this.maxBytes || this.#closedBytes > this.maxClosedBytes) &&
      this.#closed.size > 0
    ) {
      const oldest = this.#closed.values().next().value!
      this.#closed.delete(oldest)
      this.#closedLogsDropped++
      oldest.clear()
    }
    while (this.#bytes > this.maxBytes && this.#fifoHead < this.#fifoWindows.length) {
      const window = this.#fifoWindows[this.#fifoHead]!
      const seq = this.#fifoSeqs[this.#fifoHead]!
      this.#fifoHead++
      // Stale: its log closed or left, or the entry already went by the log's own retention.
      if (window.budgetState !== 'open' || seq < window.firstSeq) continue
      this.#entriesDropped++
      window.dropOldest()
    }
    if (this.#fifoHead > 1024 && this.#fifoHead * 2 > this.#fifoWindows.length) {
      this.#fifoWindows.splice(0, this.#fifoHead)
      this.#fifoSeqs.splice(0, this.#fifoHead)
      this.#fifoHead = 0
    }
  }

  /** Drops stale records: at least half of those present, so the cost is amortised over their appends. */
  #compact(): void {
    const windows: AnyWindow[] = []
    const seqs: number[] = []
    for (let i = this.#fifoHead; i < this.#fifoWindows.length; i++) {
      const window = this.#fifoWindows[i]!
      const seq = this.#fifoSeqs[i]!
      if (window.budgetState !== 'open' || seq < window.firstSeq) continue
      windows.push(window)
      seqs.push(seq)
    }
    this.#fifoWindows = windows
    this.#fifoSeqs = seqs
    this.#fifoHead = 0
  }
}
