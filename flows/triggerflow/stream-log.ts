/**
 * The runtime stream's retained log: an append-only, bounded sequence of envelopes with seq
 * 1, 2, 3, ... Consumers hold their own cursors (a seq), so any number of them can read the
 * same log without the log knowing about them; a cursor that fell behind retention is told
 * so with an explicit gap, never a silent hole.
 */

/** One runtime-stream item with its position: what servers and `getRuntimeStreamEvents` see. */
export interface StreamEnvelope<T = unknown> {
  readonly seq: number
  readonly ts: number
  readonly source?: string
  readonly data: T
}

/** Told to a cursor whose next seqs are no longer retained: `from..to` are gone. */
export interface StreamGap {
  readonly kind: 'gap'
  readonly from: number
  readonly to: number
}

export type StreamCloseReason = 'stopped' | 'completed' | 'failed' | 'cancelled'

export interface StreamCloseInfo {
  readonly reason: StreamCloseReason
  readonly by?: string
  readonly lastSeq: number
}

/** A retained entry: the envelope and its JSON, encoded once at append and reused by every reader. */
export interface LogEntry<T = unknown> {
  readonly envelope: StreamEnvelope<T>
  readonly json: string
}

export interface StreamRetention {
  /** Most events kept; older ones are evicted first. */
  maxEvents: number
  /** Most bytes (of encoded JSON) kept; the newest event is always kept. */
  maxBytes: number
}

export const DEFAULT_RETENTION: StreamRetention = { maxEvents: 10_000, maxBytes: 16 * 1024 * 1024 }

export interface LogListener<T = unknown> {
  onAppend?(entry: LogEntry<T>): void
  onClose?(info: StreamCloseInfo): void
}

export interface LogRead<T = unknown> {
  gap?: StreamGap
  entries: LogEntry<T>[]
}

/** The bounded log behind one execution's runtime stream. */
export class RuntimeStreamLog<T = unknown> {
  private readonly entries: LogEntry<T>[] = []
  // Evicting from the front of an array is O(n); an offset makes it O(1) amortised.
  private head = 0
  private bytes = 0
  private seq = 0
  private closeInfo: StreamCloseInfo | undefined
  private readonly listeners = new Set<LogListener<T>>()
  private waiters: (() => void)[] = []
  private readonly retention: StreamRetention

  constructor(retention: Partial<StreamRetention> = {}) {
    this.retention = { ...DEFAULT_RETENTION, ...retention }
  }

  /** Seq of the newest item ever appended (0 when none). */
  get lastSeq(): number {
    return this.seq
  }

  /** Seq of the oldest retained item (lastSeq + 1 when nothing is retained). */
  get firstSeq(): number {
    const first = this.entries[this.head]
    return first ? first.envelope.seq : this.seq + 1
  }

  /** Number of retained items. */
  get size(): number {
    return this.entries.length - this.head
  }

  /** Encoded bytes held by retained items. */
  get retainedBytes(): number {
    return this.bytes
  }

  get closed(): boolean {
    return this.closeInfo !== undefined
  }

  get closeReason(): StreamCloseInfo | undefined {
    return this.closeInfo
  }

  /** Appends an item; returns its entry, or undefined when the stream is closed (the item is dropped). */
  append(data: T, source?: string): LogEntry<T> | undefined {
    if (this.closeInfo) return undefined
    const envelope: StreamEnvelope<T> =
      source === undefined
        ? { seq: this.seq + 1, ts: Date.now(), data }
        : { seq: this.seq + 1, ts: Date.now(), source, data }
    // Encode before committing the seq: an item JSON cannot carry must not leave a hole.
    const json = JSON.stringify(envelope)
    this.seq = envelope.seq
    const entry: LogEntry<T> = { envelope, json }
    this.entries.push(entry)
    this.bytes += json.length
    this.evict()
    for (const l of this.listeners) l.onAppend?.(entry)
    this.wake()
    return entry
  }

  /** Closes the stream; returns false when it was already closed (the first reason stands). */
  close(reason: StreamCloseReason, by?: string): boolean {
    if (this.closeInfo) return false
    this.closeInfo = by === undefined ? { reason, lastSeq: this.seq } : { reason, by, lastSeq: this.seq }
    const info = this.closeInfo
    for (const l of this.listeners) l.onClose?.(info)
    this.wake()
    return true
  }

  /** Reads up to `limit` retained entries after seq `after`, with a gap when some are gone. */
  read(after: number, limit = Number.POSITIVE_INFINITY): LogRead<T> {
    const first = this.firstSeq
    const out: LogRead<T> = { entries: [] }
    // Seqs are whole: after 2.5 comes 3, so the cursor is floored (a fractional slot index would
    // read past the entries). A negative or NaN cursor means "from the start", not a gap before seq 1.
    let from = (after >= 0 ? Math.floor(after) : 0) + 1
    if (from < first && from <= this.seq) {
      out.gap = { kind: 'gap', from, to: first - 1 }
      from = first
    }
    const start = this.head + (from - first)
    const end = Math.min(this.entries.length, start + Math.max(0, limit))
    for (let i = Math.max(start, this.head); i < end; i++) out.entries.push(this.entries[i]!)
    return out
  }

  /** Registers a synchronous listener for appends and the close; returns its remover. */
  listen(listener: LogListener<T>): () => void {
    this.listeners.add(listener)
    return () => this.listeners.delete(listener)
  }

  /**
   * Resolves when something after seq `after` exists or the stream is closed ('ready'), or when
   * `timeoutMs` passes first ('timeout'). `null` waits without bound.
   */
  waitAfter(after: number, timeoutMs: number | null): Promise<'ready' | 'timeout'> {
    if (this.seq > after || this.closeInfo) return Promise.resolve('ready')
    return new Promise((resolve) => {
      let timer: ReturnType<typeof setTimeout> | undefined
      const wake = () => {
        if (timer) clearTimeout(timer)
        resolve('ready')
      }
      this.waiters.push(wake)
      if (timeoutMs !== null) {
        timer = setTimeout(() => {
          this.waiters = this.waiters.filter((w) => w !== wake)
          resolve('timeout')
        }, timeoutMs)
      }
    })
  }

  private wake(): void {
    if (this.waiters.length === 0) return
    const waiters = this.waiters
    this.waiters = []
    for (const w of waiters) w()
  }

  private evict(): void {
    const { maxEvents, maxBytes } = this.retention
    while (this.size > 1 && (this.size > maxEvents || this.bytes > maxBytes)) {
      const gone = this.entries[this.head]!
      this.bytes -= gone.json.length
      this.head++
    }
    // Compact once the dead prefix dominates, so memory follows retention, not history.
    if (this.head > 1024 && this.head * 2 > this.entries.length) {
      this.entries.splice(0, this.head)
      this.head = 0
    }
  }
}
