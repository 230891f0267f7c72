/**
 * The copies of remote logs on one node: one RemoteLog per execution, whatever the number of
 * rooms or openings. A copy is loaded from the lowest `since` asked (the first subscriber's, then
 * extended backwards only when a later one asks for older events), and it stays for
 * `lingerMs` after the last room lets it go, unwatched, so that a room opened again reads only
 * the events that came meanwhile. A viewer subscribing and unsubscribing in a loop therefore
 * costs Redis O(new events) per opening, not the whole retained log (issue 14, point 6).
 * Lingering copies are bounded in bytes (`lingerBytes`, the oldest go first) and count against
 * the node's RetentionBudget like every other log this node holds.
 */
import { DEFAULT_RETENTION, type RetentionBudget } from '@flowcast/flows'
import type { ExecutionStatus } from '@flowcast/protocol'
import type { Redis } from 'ioredis'
import type { BrokerEntry, Follower } from '../broker.ts'
import { RemoteFollower, RemoteLog } from './follower.ts'
import { type EntryId, formatId, type RedisKeys } from './keys.ts'
import { infoOf } from './meta.ts'
import { type StreamReader, type StreamRecord, toRecord } from './reader.ts'

/** Entries per XRANGE page when a copy loads history. */
const PAGE = 1000

export interface RemoteLogsOptions {
  /** The command connection (reads only). */
  redis: Redis
  keys: RedisKeys
  reader: StreamReader
  /** How long a copy nobody follows is kept; 0 drops it at once. */
  lingerMs: number
  /** The most bytes lingering copies hold together; over it the oldest is dropped. */
  lingerBytes: number
  budget?: RetentionBudget
  /** Runs one Redis call, turning its failure into broker_unavailable. */
  call<T>(fn: () => Promise<T>): Promise<T>
}

interface Held {
  log: RemoteLog
  /** Handles (rooms) on the copy. */
  handles: number
  /** Set while nobody follows it: when it goes, and the bytes it was counted with. */
  lingering?: { timer: ReturnType<typeof setTimeout>; bytes: number }
  /** The backfills of this copy, one after the other. */
  covering: Promise<void>
}

type Row = [string, string[]]

/** Every remote log copy of one node. */
export class RemoteLogs {
  readonly #o: RemoteLogsOptions
  readonly #held = new Map<string, Held>()
  /** Loads and revivals in flight, one per execution. */
  readonly #pending = new Map<string, Promise<Held | undefined>>()
  /** Lingering copies, oldest first. */
  readonly #lingering = new Map<string, Held>()
  #lingerBytes = 0
  #closed = false

  constructor(options: RemoteLogsOptions) {
    this.#o = options
  }

  /** Copies held (followed or lingering). */
  get size(): number {
    return this.#held.size
  }

  /** Bytes held by lingering copies. */
  get lingeringBytes(): number {
    return this.#lingerBytes
  }

  /** A handle on the execution's copy holding everything after `after`; undefined when unknown. */
  async follow(executionId: string, after: number): Promise<Follower | undefined> {
    for (;;) {
      const pending = this.#pending.get(executionId)
      if (pending) {
        await pending
        continue
      }
      const held = this.#held.get(executionId)
      let ready: Held | undefined
      if (held && !held.lingering) ready = held
      else {
        const p = (held ? this.#revive(held) : this.#load(executionId, after)).finally(() =>
          this.#pending.delete(executionId),
        )
        this.#pending.set(executionId, p)
        ready = await p
        if (!ready) return undefined
        if (this.#held.get(executionId) !== ready || ready.lingering) continue
      }
      ready.handles++
      const follower = new RemoteFollower(
        ready.log,
        (_, a) => this.#cover(ready, a),
        () => this.#let(ready),
      )
      try {
        await follower.cover(after)
      } catch (err) {
        follower.release()
        throw err
      }
      return follower
    }
  }

  /** Drops every copy. */
  close(): void {
    this.#closed = true
    for (const held of [...this.#held.values()]) this.#drop(held)
  }

  /** The hash and the stream from `after` on, the first page in the same MULTI as the hash. */
  async #load(executionId: string, after: number): Promise<Held | undefined> {
    const { keys } = this.#o
    const key = keys.log(executionId)
    const from = Math.max(0, Math.floor(after))
    const start = from === 0 ? '-' : `(${from}-0`
    const replies = await this.#o.call(() =>
      this.#o.redis
        .multi()
        .hgetall(keys.meta(executionId))
        .xrevrange(key, '+', '-', 'COUNT', 1)
        .xrange(key, start, '+', 'COUNT', PAGE)
        .exec(),
    )
    const [h, topRows, first] = unwrap(replies) as [Record<string, string>, Row[], Row[]]
    const info = infoOf(executionId, h)
    if (!info || this.#closed) return undefined
    const top: EntryId = topRows[0] ? toRecord(topRows[0]).id : { seq: 0, sub: 0 }
    const records = first.map(toRecord)
    if (first.length === PAGE) records.push(...(await this.#range(key, formatId(records.at(-1)!.id))))
    const log = new RemoteLog(executionId, key, this.#o.reader, {
      retention: {
        maxEvents: Number(h.maxEvents ?? DEFAULT_RETENTION.maxEvents),
        maxBytes: Number(h.maxBytes ?? DEFAULT_RETENTION.maxBytes),
      },
      status: info.status as ExecutionStatus,
      ...(info.streamClose ? { close: info.streamClose } : {}),
      // A `since` beyond the stream's top is the room's to refuse (invalid_since), so the copy
      // must not claim events it has not seen.
      base: Math.min(from, top.seq),
      records,
      cursor: records.at(-1)?.id ?? top,
      ...(this.#o.budget ? { budget: this.#o.budget } : {}),
    })
    const held: Held = { log, handles: 0, covering: Promise.resolve() }
    this.#held.set(executionId, held)
    log.watch()
    return held
  }

  /**
   * A lingering copy is followed again: what came meanwhile is read from its cursor, before the
   * reader goes on (so a room sees the current top at once). An execution gone from Redis
   * (expired or evicted) drops the copy.
   */
  async #revive(held: Held): Promise<Held | undefined> {
    this.#unlinger(held)
    const { keys } = this.#o
    const { log } = held
    const id = log.executionId
    let records: StreamRecord[]
    let exists: number
    try {
      const replies = await this.#o.call(() =>
        this.#o.redis
          .multi()
          .exists(keys.meta(id))
          .xrange(log.key, `(${formatId(log.cursor)}`, '+', 'COUNT', PAGE)
          .exec(),
      )
      const [n, first] = unwrap(replies) as [number, Row[]]
      exists = n
      records = first.map(toRecord)
      if (first.length === PAGE) records.push(...(await this.#range(log.key, formatId(records.at(-1)!.id))))
    } catch (err) {
      this.#drop(held)
      throw err
    }
    if (exists === 0 || this.#closed || log.released) {
      this.#drop(held)
      return undefined
    }
    log.catchUp(records)
    log.watch()
    return held
  }

  /** Reads the events of seqs `after + 1 .. base` into the copy, one backfill at a time. */
  #cover(held: Held, after: number): Promise<void> {
    const run = held.covering.then(async () => {
      const { log } = held
      if (log.covers(after) || log.released) return
      const base = log.baseSeq
      const from = Math.max(0, Math.floor(after))
      const events: BrokerEntry[] = []
      let start = `${from + 1}-0`
      for (;;) {
        const rows = (await this.#o.call(() =>
          this.#o.redis.xrange(log.key, start, `${base}-0`, 'COUNT', PAGE),
        )) as Row[]
        for (const row of rows) {
          const r = toRecord(row)
          if (r.fields.e !== undefined) events.push({ seq: r.id.seq, json: r.fields.e })
        }
        if (rows.length < PAGE) break
        start = `(${rows.at(-1)![0]}`
      }
      log.prepend(from, events)
    })
    held.covering = run.catch(() => undefined)
    return run
  }

  /** Every record after `after` (an id), page by page. */
  async #range(key: string, after: string): Promise<StreamRecord[]> {
    const out: StreamRecord[] = []
    let start = `(${after}`
    for (;;) {
      const rows = (await this.#o.call(() => this.#o.redis.xrange(key, start, '+', 'COUNT', PAGE))) as Row[]
      for (const row of rows) out.push(toRecord(row))
      if (rows.length < PAGE) return out
      start = `(${rows.at(-1)![0]}`
    }
  }

  /** A handle let go: the last one makes the copy linger (or go, when it cannot). */
  #let(held: Held): void {
    held.handles--
    if (held.handles > 0 || this.#held.get(held.log.executionId) !== held) return
    held.log.unwatch()
    const bytes = held.log.bytes
    const { lingerMs, lingerBytes } = this.#o
    if (this.#closed || lingerMs <= 0 || bytes > lingerBytes || held.log.released) {
      this.#drop(held)
      return
    }
    const timer = setTimeout(() => this.#drop(held), lingerMs)
    timer.unref?.()
    held.lingering = { timer, bytes }
    this.#lingering.set(held.log.executionId, held)
    this.#lingerBytes += bytes
    for (const [, oldest] of this.#lingering) {
      if (this.#lingerBytes <= lingerBytes) break
      this.#drop(oldest)
    }
  }

  #unlinger(held: Held): void {
    if (!held.lingering) return
    clearTimeout(held.lingering.timer)
    this.#lingerBytes -= held.lingering.bytes
    held.lingering = undefined
    this.#lingering.delete(held.log.executionId)
  }

  #drop(held: Held): void {
    this.#unlinger(held)
    held.log.release()
    if (this.#held.get(held.log.executionId) === held) this.#held.delete(held.log.executionId)
  }
}

/** A MULTI's replies, or its first error thrown. */
function unwrap(replies: [Error | null, unknown][] | null): unknown[] {
  if (!replies) throw new Error('the MULTI was aborted')
  return replies.map(([err, value]) => {
    if (err) throw err
    return value
  })
}
