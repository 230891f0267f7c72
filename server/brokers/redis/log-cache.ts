/**
 * A node-local copy of a remote execution's retained log, bounded by the same retention as the
 * engine's log on the running node, with the engine's own window (RetainedWindow), so every node
 * evicts the same events and announces the same gaps.
 */
import { RetainedWindow, type Retention, type RetentionBudget } from '@flowcast/flows'
import type { BrokerEntry, BrokerRead } from '../broker.ts'

/** Retained entries of one remote log, oldest first. */
export class LogCache {
  readonly #window: RetainedWindow<BrokerEntry>

  /** `budget`: the node's bound on retained bytes, shared with its own executions' logs. */
  constructor(retention: Retention, budget?: RetentionBudget) {
    this.#window = new RetainedWindow(
      { maxEvents: Math.max(1, retention.maxEvents), maxBytes: Math.max(1, retention.maxBytes) },
      (e) => e.seq,
      budget,
    )
  }

  get lastSeq(): number {
    return this.#window.lastSeq
  }

  /** Seq of the oldest retained entry (lastSeq + 1 when none). */
  get firstSeq(): number {
    return this.#window.firstSeq
  }

  get size(): number {
    return this.#window.size
  }

  /** Encoded bytes held. */
  get bytes(): number {
    return this.#window.bytes
  }

  /** Makes an empty cache go on after `seq` (a copy loaded from a subscriber's `since`). */
  startAfter(seq: number): void {
    this.#window.startAfter(seq)
  }

  /**
   * Adds the next entry. An entry beyond lastSeq + 1 means Redis lost events (an outage longer
   * than retention, a Redis restart without persistence): the older entries are dropped so that
   * readers behind the hole are told a gap instead of skipping it silently.
   */
  append(entry: BrokerEntry): boolean {
    if (entry.seq <= this.#window.lastSeq) return false
    if (entry.seq > this.#window.lastSeq + 1) this.#window.clear()
    this.#window.push(entry)
    return true
  }

  /** The stream closed: to the budget these entries are history now, the first to go. */
  retire(): void {
    this.#window.retire()
  }

  /** Drops every entry and leaves the budget (the follower is released). */
  release(): void {
    this.#window.release()
  }

  /** Up to `limit` entries after `after`, with the gap before the first retained one. */
  read(after: number, limit: number): BrokerRead {
    return this.#window.read(after, limit)
  }
}
