/**
 * The runtime stream's retained log: an append-only, bounded sequence of envelopes with seq
 * 1, 2, 3, ... Consumers hold their own cursors (a seq), so any number of them can read the
 * same log without the log knowing about them; a cursor that fell behind retention is told
 * so with an explicit gap, never a silent hole.
 */

import { FlowcastError, type StreamEndReason } from '@flowcast/protocol'
import { RetainedWindow } from './retained-window.ts'
import { DEFAULT_RETENTION, type Retention } from './retention.ts'
import type { RetentionBudget } from './retention-budget.ts'

/** One runtime-stream item with its position: what servers and `getRuntimeStreamEvents` see. */
export interface StreamEnvelope<T = unknown> {
  readonly seq: number
  readonly ts: number
  readonly source?: string
  /** Set (2, 3, ...) on items a step put while running again after a restore: at-least-once steps. */
  readonly attempt?: number
  readonly data: T
}

/** Told to a cursor whose next seqs are no longer retained: `from..to` are gone. */
export interface StreamGap {
  readonly kind: 'gap'
  readonly from: number
  readonly to: number
}

/** How and where the stream closed: the engine's one name for a stream's end. */
export interface StreamClose {
  readonly reason: StreamEndReason
  readonly by?: string
  readonly lastSeq: number
}

/** A retained entry: the envelope and its JSON, encoded once at append and reused by every reader. */
export interface LogEntry<T = unknown> {
  /** The envelope's seq, beside it so a server hands the entry on as it is (no copy per append). */
  readonly seq: number
  readonly envelope: StreamEnvelope<T>
  readonly json: string
}

export interface LogListener<T = unknown> {
  onAppend?(entry: LogEntry<T>): void
  onClose?(close: StreamClose): void
}

export interface LogRead<T = unknown> {
  gap?: StreamGap
  entries: LogEntry<T>[]
}

/** An entry's seq, for the window: one function for every log rather than a closure per log. */
const seqOf = (entry: LogEntry<any>): number => entry.seq

/** The bounded log behind one execution's runtime stream. */
export class RuntimeStreamLog<T = unknown> {
  private readonly window: RetainedWindow<LogEntry<T>>
  private end: StreamClose | undefined
  private readonly listeners = new Set<LogListener<T>>()
  /**
   * The listener when there is exactly one (a server's room, usually): an append then reads it from
   * this object instead of from the Set and its table, two cache lines that are cold when each of
   * a thousand executions gets an item in turn.
   */
  private only: LogListener<T> | undefined
  /** Readers waiting for the next item; undefined when none (no array to touch per append). */
  private waiters: (() => void)[] | undefined

  /** `budget`: a bound shared with other logs (a server node's), which may take more than `retention`. */
  constructor(retention: Partial<Retention> = {}, budget?: RetentionBudget) {
    this.window = new RetainedWindow({ ...DEFAULT_RETENTION, ...retention }, seqOf, budget)
  }

  /** Seq of the newest item ever appended (0 when none). */
  get lastSeq(): number {
    return this.window.lastSeq
  }

  /** Seq of the oldest retained item (lastSeq + 1 when nothing is retained). */
  get firstSeq(): number {
    return this.window.firstSeq
  }

  /** Number of retained items. */
  get size(): number {
    return this.window.size
  }

  /** Encoded bytes held by retained items. */
  get retainedBytes(): number {
    return this.window.bytes
  }

  get closed(): boolean {
    return this.end !== undefined
  }

  /** How the stream closed, once it has. */
  get streamClose(): StreamClose | undefined {
    return this.end
  }

  /**
   * Appends an item; returns its entry, or undefined when the stream is closed (the item is
   * dropped). With `maxItemBytes`, an item whose encoded envelope is larger throws
   * FlowcastError('item_too_large') and changes nothing.
   */
  append(data: T, source?: string, attempt?: number, maxItemBytes?: number): LogEntry<T> | undefined {
    if (this.end) return undefined
    const seq = this.window.lastSeq + 1
    // seq first: servers splice frame fields in front of the envelope's JSON.
    const ts = Date.now()
    // The hot path: one literal per shape, no spreads (this runs once per item put).
    const envelope: StreamEnvelope<T> =
      attempt !== undefined && attempt > 1
        ? source === undefined
          ? { seq, ts, attempt, data }
          : { seq, ts, source, attempt, data }
        : source === undefined
          ? { seq, ts, data }
          : { seq, ts, source, data }
    // Encode before committing the seq: an item JSON cannot carry must not leave a hole.
    const json = JSON.stringify(envelope)
    if (maxItemBytes !== undefined && json.length > maxItemBytes / 3) {
      // A UTF-8 byte is at most 3 per UTF-16 unit: count exactly only when it could matter.
      const bytes = utf8Length(json)
      if (bytes > maxItemBytes) {
        throw new FlowcastError(
          'item_too_large',
          `a stream item of ${bytes} bytes is over maxItemBytes (${maxItemBytes})`,
          {
            details: { bytes, maxItemBytes },
          },
        )
      }
    }
    const entry: LogEntry<T> = { seq, envelope, json }
    this.window.push(entry)
    const only = this.only
    if (only !== undefined) only.onAppend?.(entry)
    else for (const l of this.listeners) l.onAppend?.(entry)
    if (this.waiters !== undefined) this.wake()
    return entry
  }

  /**
   * Continues a stream restored from a snapshot: the next item gets seq `lastSeq + 1` and the
   * seqs before it read as a gap (they live wherever the stream was kept, not here).
   */
  resumeAfter(lastSeq: number): void {
    if (this.window.lastSeq > 0 || lastSeq <= 0) return
    this.window.startAfter(lastSeq)
  }

  /** Closes the stream; returns false when it was already closed (the first reason stands). */
  close(reason: StreamEndReason, by?: string): boolean {
    if (this.end) return false
    const lastSeq = this.window.lastSeq
    this.end = by === undefined ? { reason, lastSeq } : { reason, by, lastSeq }
    const info = this.end
    // Nothing more is appended: to a shared budget these entries are history now.
    this.window.retire()
    for (const l of this.listeners) l.onClose?.(info)
    this.wake()
    return true
  }

  /**
   * Drops every retained entry and leaves the budget: the owner forgets this log (a server evicted
   * the execution). lastSeq stays, so a reader still gets a gap, not a hole.
   */
  release(): void {
    this.window.release()
  }

  /** Reads up to `limit` retained entries after seq `after`, with a gap when some are gone. */
  read(after: number, limit = Number.POSITIVE_INFINITY): LogRead<T> {
    const r = this.window.read(after, limit)
    return r.gap ? { gap: { kind: 'gap', ...r.gap }, entries: r.entries } : { entries: r.entries }
  }

  /** Registers a synchronous listener for appends and the close; returns its remover. */
  listen(listener: LogListener<T>): () => void {
    this.listeners.add(listener)
    this.only = this.listeners.size === 1 ? listener : undefined
    return () => {
      this.listeners.delete(listener)
      this.only = this.listeners.size === 1 ? this.listeners.values().next().value : undefined
    }
  }

  /**
   * Resolves when something after seq `after` exists or the stream is closed ('ready'), or when
   * `timeoutMs` passes first ('timeout'). `null` waits without bound.
   */
  waitAfter(after: number, timeoutMs: number | null): Promise<'ready' | 'timeout'> {
    if (this.window.lastSeq > after || this.end) return Promise.resolve('ready')
    return new Promise((resolve) => {
      let timer: ReturnType<typeof setTimeout> | undefined
      const wake = () => {
        if (timer) clearTimeout(timer)
        resolve('ready')
      }
      if (this.waiters === undefined) this.waiters = [wake]
      else this.waiters.push(wake)
      if (timeoutMs !== null) {
        timer = setTimeout(() => {
          const rest = this.waiters?.filter((w) => w !== wake)
          this.waiters = rest?.length ? rest : undefined
          resolve('timeout')
        }, timeoutMs)
      }
    })
  }

  private wake(): void {
    const waiters = this.waiters
    if (waiters === undefined) return
    this.waiters = undefined
    for (const w of waiters) w()
  }
}

/** UTF-8 bytes of `text` (the engine runs in browsers too: no Buffer). */
function utf8Length(text: string): number {
  let n = 0
  for (let i = 0; i < text.length; i++) {
    const c = text.charCodeAt(i)
    if (c < 0x80) n += 1
    else if (c < 0x800) n += 2
    else if (c >= 0xd800 && c <= 0xdbff && i + 1 < text.length) {
      n += 4
      i++
    } else n += 3
  }
  return n
}
