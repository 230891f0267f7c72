/**
 * A node's copy of an execution that runs on another node: a RemoteLog holds a LogCache filled
 * from the execution's Redis stream, complete after some seq (`base`), and kept current by the
 * node's one StreamReader while anyone follows it. Status changes and the stream close are
 * markers in the same stream, so they reach listeners in exactly the order the running node saw
 * them relative to the events. Each room holds a RemoteFollower, a handle on the shared copy
 * (remote-logs.ts keeps one copy per execution and lets it linger after the last handle goes).
 */
import type { Retention, RetentionBudget } from '@flowcast/flows'
import type { ExecutionStatus } from '@flowcast/protocol'
import type { BrokerEntry, BrokerRead, Follower, FollowerListener, StreamClose } from '../broker.ts'
import type { EntryId } from './keys.ts'
import { LogCache } from './log-cache.ts'
import type { ReaderWatch, StreamReader, StreamRecord } from './reader.ts'

/** Applies one stream record to a follower-like state; shared by the initial load and live reads. */
export interface RecordSink {
  append(entry: BrokerEntry): void
  status(status: ExecutionStatus): void
  close(close: StreamClose): void
}

/** Routes a record by its fields: `e` event JSON, `s` status, `c` close JSON. */
export function applyRecord(record: StreamRecord, sink: RecordSink): void {
  const f = record.fields
  if (f.e !== undefined) sink.append({ seq: record.id.seq, json: f.e })
  else if (f.s !== undefined) sink.status(f.s as ExecutionStatus)
  else if (f.c !== undefined) sink.close(JSON.parse(f.c) as StreamClose)
}

/** What a RemoteLog starts from: the hash and the stream read in one MULTI, then the rest of the range. */
export interface RemoteLogInit {
  retention: Retention
  /** The hash's status and close (consistent with the stream at the moment of the first page). */
  status: ExecutionStatus
  close?: StreamClose
  /** The copy holds every retained entry after this seq. */
  base: number
  /** Stream records after `base`, in order. */
  records: StreamRecord[]
  /** The id after which the reader goes on. */
  cursor: EntryId
  /** The node's bound on retained bytes; the cache counts against it. */
  budget?: RetentionBudget
}

/** One execution's log on this node, shared by every handle; fed by the reader while watched. */
export class RemoteLog {
  readonly executionId: string
  readonly key: string
  readonly #reader: StreamReader
  readonly #retention: Retention
  readonly #budget: RetentionBudget | undefined
  readonly #listeners = new Set<FollowerListener>()
  readonly #watch: ReaderWatch
  readonly #loud: RecordSink
  #cache: LogCache
  #base: number
  #status: ExecutionStatus
  #close: StreamClose | undefined
  #watching = false
  #released = false

  constructor(executionId: string, key: string, reader: StreamReader, init: RemoteLogInit) {
    this.executionId = executionId
    this.key = key
    this.#reader = reader
    this.#retention = init.retention
    this.#budget = init.budget
    this.#base = init.base
    this.#cache = this.#newCache(init.base)
    this.#status = init.status
    this.#close = init.close
    if (this.#close) this.#cache.retire()
    // The initial load tells nobody: no listener exists yet.
    const quiet: RecordSink = {
      append: (e) => void this.#cache.append(e),
      status: (s) => {
        this.#status = s
      },
      close: (c) => {
        this.#close ??= c
        this.#cache.retire()
      },
    }
    for (const r of init.records) applyRecord(r, quiet)
    this.#loud = {
      append: (e) => {
        if (!this.#cache.append(e)) return
        for (const l of this.#listeners) l.onAppend?.(e)
      },
      status: (s) => {
        if (s === this.#status) return
        this.#status = s
        for (const l of this.#listeners) l.onStatus?.(s)
      },
      close: (c) => {
        if (this.#close) return
        this.#close = c
        this.#cache.retire()
        for (const l of this.#listeners) l.onClose?.(c)
      },
    }
    this.#watch = {
      key,
      cursor: init.cursor,
      // The reader delivers only records after the cursor, and advances it itself.
      onRecords: (records) => {
        for (const r of records) if (!this.#released) applyRecord(r, this.#loud)
      },
    }
  }

  get status(): ExecutionStatus {
    return this.#status
  }
  get lastSeq(): number {
    return this.#cache.lastSeq
  }
  get streamClose(): StreamClose | undefined {
    return this.#close
  }
  /** Encoded bytes this copy holds. */
  get bytes(): number {
    return this.#cache.bytes
  }
  /** The id after which the copy goes on reading the stream. */
  get cursor(): EntryId {
    return this.#watch.cursor
  }
  /** The copy holds every retained entry after this seq. */
  get baseSeq(): number {
    return this.#base
  }
  get released(): boolean {
    return this.#released
  }

  /** Whether the copy holds everything Redis retains after seq `after`. */
  covers(after: number): boolean {
    return Math.max(0, Math.floor(after)) >= this.#base
  }

  /** Applies records newer than the cursor, telling the listeners (a lingering copy catching up). */
  catchUp(records: StreamRecord[]): void {
    for (const r of records) {
      if (this.#released) return
      if (r.id.seq < this.#watch.cursor.seq) continue
      if (r.id.seq === this.#watch.cursor.seq && r.id.sub <= this.#watch.cursor.sub) continue
      this.#watch.cursor = r.id
      applyRecord(r, this.#loud)
    }
  }

  /**
   * Adds the events of seqs `after + 1 .. base` read from Redis in front of the copy, so that it
   * holds everything after `after`. The cache is rebuilt (a window only grows at its end), once
   * per lower `after` asked: rare next to appends.
   */
  prepend(after: number, events: BrokerEntry[]): void {
    if (this.#released || after >= this.#base) return
    const old = this.#cache
    const next = this.#newCache(after)
    for (const e of events) if (e.seq <= this.#base) next.append(e)
    // A hole in the old copy (Redis or the budget lost events) stays one: append clears before it.
    for (const e of old.read(this.#base, Number.MAX_SAFE_INTEGER).entries) next.append(e)
    if (this.#close) next.retire()
    old.release()
    this.#cache = next
    this.#base = after
  }

  /** Starts (or goes on) reading new records through the node's reader. */
  watch(): void {
    if (this.#watching || this.#released) return
    this.#watching = true
    this.#reader.add(this.#watch)
  }

  /** Stops reading new records; the copy stays as it is (lingering). */
  unwatch(): void {
    if (!this.#watching) return
    this.#watching = false
    this.#reader.remove(this.#watch)
  }

  read(after: number, limit: number): BrokerRead {
    return this.#cache.read(after, limit)
  }

  listen(listener: FollowerListener): () => void {
    this.#listeners.add(listener)
    return () => this.#listeners.delete(listener)
  }

  /** Forgets the copy: no reads, no listeners, out of the budget. */
  release(): void {
    if (this.#released) return
    this.unwatch()
    this.#released = true
    this.#listeners.clear()
    this.#cache.release()
  }

  #newCache(base: number): LogCache {
    const cache = new LogCache(this.#retention, this.#budget)
    cache.startAfter(base)
    return cache
  }
}

/** A room's synchronous view of a RemoteLog; releasing it gives the copy back to its keeper. */
export class RemoteFollower implements Follower {
  readonly executionId: string
  readonly #log: RemoteLog
  readonly #cover: (log: RemoteLog, after: number) => Promise<void>
  readonly #done: (log: RemoteLog) => void
  readonly #unlisten = new Set<() => void>()
  #released = false

  constructor(
    log: RemoteLog,
    cover: (log: RemoteLog, after: number) => Promise<void>,
    done: (log: RemoteLog) => void,
  ) {
    this.executionId = log.executionId
    this.#log = log
    this.#cover = cover
    this.#done = done
  }

  get status(): ExecutionStatus {
    return this.#log.status
  }
  get lastSeq(): number {
    return this.#log.lastSeq
  }
  get streamClose(): StreamClose | undefined {
    return this.#log.streamClose
  }

  read(after: number, limit: number): BrokerRead {
    return this.#log.read(after, limit)
  }

  covers(after: number): boolean {
    return this.#log.covers(after)
  }

  /** Loads what Redis retains after `after` that the copy does not hold yet. */
  cover(after: number): Promise<void> {
    return this.#log.covers(after) ? Promise.resolve() : this.#cover(this.#log, after)
  }

  listen(listener: FollowerListener): () => void {
    const remove = this.#log.listen(listener)
    const unlisten = () => {
      remove()
      this.#unlisten.delete(unlisten)
    }
    this.#unlisten.add(unlisten)
    return unlisten
  }

  release(): void {
    if (this.#released) return
    this.#released = true
    for (const u of [...this.#unlisten]) u()
    this.#done(this.#log)
  }
}
