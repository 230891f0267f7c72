/**
 * A follower of an execution that runs on another node: a local LogCache filled from the
 * execution's Redis stream and kept current by the node's one StreamReader. Status changes and
 * the stream close are markers in the same stream, so they reach listeners in exactly the order
 * the running node saw them relative to the events.
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

/** A synchronous view of a remote execution's log on this node. */
export class RemoteFollower implements Follower {
  readonly executionId: string
  readonly #cache: LogCache
  readonly #reader: StreamReader
  readonly #watch: ReaderWatch
  readonly #listeners = new Set<FollowerListener>()
  #status: ExecutionStatus
  #close: StreamClose | undefined
  #released = false

  constructor(
    executionId: string,
    key: string,
    reader: StreamReader,
    init: {
      retention: Retention
      status: ExecutionStatus
      records: StreamRecord[]
      cursor: EntryId
      /** The node's bound on retained bytes; the cache counts against it. */
      budget?: RetentionBudget
    },
  ) {
    this.executionId = executionId
    this.#reader = reader
    this.#cache = new LogCache(init.retention, init.budget)
    this.#status = init.status
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
    const loud: RecordSink = {
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
      onRecords: (records) => {
        for (const r of records) applyRecord(r, loud)
      },
    }
    reader.add(this.#watch)
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

  read(after: number, limit: number): BrokerRead {
    return this.#cache.read(after, limit)
  }

  listen(listener: FollowerListener): () => void {
    this.#listeners.add(listener)
    return () => this.#listeners.delete(listener)
  }

  release(): void {
    if (this.#released) return
    this.#released = true
    this.#listeners.clear()
    this.#reader.remove(this.#watch)
    this.#cache.release()
  }
}
