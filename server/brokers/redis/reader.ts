/**
 * The one reader of a node: it reads the streams of the executions this node's rooms (and result
 * waits) follow, and only when they move. The running node's write MULTI PUBLISHes each log's
 * doorbell (`<prefix>x:<id>:tick`, carrying the new top id) after it appended; this node
 * SUBSCRIBEs the doorbells of the streams it follows, on its pub/sub connection, and answers the
 * rings with non-blocking XREADs of the rung streams only, from each one's cursor, gathered per
 * socket read. Nothing blocks in Redis and no command names a stream that did not move,
 * so Redis's work follows the events, not the number of followed streams (issue 18: one blocking
 * XREAD re-issued over 5,000 streams cost Redis half a core).
 *
 * A ring is a hint; the cursor is the truth. A ring missed cannot lose events: a stream is read
 * once its doorbell's SUBSCRIBE is confirmed (what came before it), every followed stream is
 * read again whenever the pub/sub or the read connection comes back (rings sent while one was
 * away are gone), and, as a last resort, every `sweepMs` (5 s): a write that rang no doorbell is
 * seen that late, never lost.
 */
import type { Redis } from 'ioredis'
import { type EntryId, formatId, idAfter, parseId } from './keys.ts'

/** One stream entry: its id and its fields. */
export interface StreamRecord {
  readonly id: EntryId
  readonly fields: Record<string, string>
}

/** A reader of one stream from `cursor` on; the reader advances the cursor as it delivers. */
export interface ReaderWatch {
  readonly key: string
  /** The stream's doorbell channel (rung by the writer after each append). */
  readonly bell: string
  cursor: EntryId
  onRecords(records: StreamRecord[]): void
}

export interface StreamReaderOptions {
  /** The connection that reads (XREAD without BLOCK); used for nothing else. */
  conn: Redis
  /** The pub/sub connection the doorbells are subscribed on (shared with the command bus). */
  sub: Redis
  /** Entries per stream per XREAD. */
  count?: number
  /** Streams per XREAD. */
  batch?: number
  /**
   * Every this often, every followed stream is read whether it rang or not (0: never): a bound on
   * how late a write that rang no doorbell (or a ring lost without a reconnect) is seen.
   */
  sweepMs?: number
  onError?: (err: unknown, context: string) => void
}

/** How often every followed stream is read regardless of rings, by default. */
export const DEFAULT_SWEEP_MS = 5_000

/** Turns an XREAD/XRANGE entry into a record. */
export function toRecord(entry: [string, string[]]): StreamRecord {
  const [id, flat] = entry
  const fields: Record<string, string> = {}
  for (let i = 0; i + 1 < flat.length; i += 2) fields[flat[i]!] = flat[i + 1]!
  return { id: parseId(id), fields }
}

/**
 * XREAD's reply as [key, entries] pairs: RESP2 nests one pair per stream, RESP3 answers a map
 * that arrives flattened as key, entries, key, entries.
 */
export function streamsOf(reply: unknown): [string, [string, string[]][]][] {
  const arr = reply as unknown[]
  if (arr.length === 0 || !(typeof arr[0] === 'string' || Buffer.isBuffer(arr[0]))) {
    return arr as [string, [string, string[]][]][]
  }
  const out: [string, [string, string[]][]][] = []
  for (let i = 0; i + 1 < arr.length; i += 2) out.push([String(arr[i]), arr[i + 1] as [string, string[]][]])
  return out
}

/** Followed streams of one node, read when their doorbell rings. */
export class StreamReader {
  readonly #conn: Redis
  readonly #sub: Redis
  readonly #count: number
  readonly #batch: number
  readonly #onError: (err: unknown, context: string) => void
  readonly #watches = new Map<string, Set<ReaderWatch>>()
  /** Doorbell channel -> stream key, for the streams followed. */
  readonly #bells = new Map<string, string>()
  /** Streams to read at the next XREAD. */
  readonly #dirty = new Set<string>()
  /** Doorbells to (un)subscribe at the next turn. */
  readonly #toSubscribe = new Set<string>()
  readonly #toUnsubscribe = new Set<string>()
  #flushing = false
  #reading = false
  #retry: ReturnType<typeof setTimeout> | undefined
  #closed = false
  #reads = 0
  readonly #sweep: ReturnType<typeof setInterval> | undefined
  readonly #onMessage = (channel: string, message: string) => this.#ring(channel, message)
  readonly #onSubReady = () => this.#resubscribe()
  readonly #onConnReady = () => this.#readAll()

  constructor(options: StreamReaderOptions) {
    this.#conn = options.conn
    this.#sub = options.sub
    this.#count = options.count ?? 1_000
    this.#batch = options.batch ?? 512
    this.#onError = options.onError ?? (() => undefined)
    this.#sub.on('message', this.#onMessage)
    this.#sub.on('ready', this.#onSubReady)
    this.#conn.on('ready', this.#onConnReady)
    const sweepMs = options.sweepMs ?? DEFAULT_SWEEP_MS
    if (sweepMs > 0) {
      this.#sweep = setInterval(() => this.#readAll(), sweepMs)
      this.#sweep.unref?.()
    }
  }

  /** Streams followed right now. */
  get streams(): number {
    return this.#watches.size
  }

  /** XREADs issued so far (for tests and benchmarks). */
  get reads(): number {
    return this.#reads
  }

  /** Starts delivering records after `watch.cursor`. */
  add(watch: ReaderWatch): void {
    if (this.#closed) return
    let set = this.#watches.get(watch.key)
    if (!set) {
      set = new Set()
      this.#watches.set(watch.key, set)
      this.#bells.set(watch.bell, watch.key)
      this.#toUnsubscribe.delete(watch.bell)
      // Read once its SUBSCRIBE is confirmed: rings from then on, the read for what came before.
      this.#toSubscribe.add(watch.bell)
      this.#flushSubscriptions()
    } else {
      // Its doorbell is already subscribed; this watch may be behind the others.
      this.#dirty.add(watch.key)
      this.#read()
    }
    set.add(watch)
  }

  /** Stops delivering to `watch`; a removed stream's doorbell is unsubscribed. */
  remove(watch: ReaderWatch): void {
    const set = this.#watches.get(watch.key)
    if (!set?.delete(watch)) return
    if (set.size > 0) return
    this.#watches.delete(watch.key)
    this.#bells.delete(watch.bell)
    this.#dirty.delete(watch.key)
    this.#toSubscribe.delete(watch.bell)
    this.#toUnsubscribe.add(watch.bell)
    this.#flushSubscriptions()
  }

  /** Stops reading (the caller closes the connections). */
  async close(): Promise<void> {
    this.#closed = true
    this.#watches.clear()
    this.#bells.clear()
    this.#dirty.clear()
    if (this.#retry) clearTimeout(this.#retry)
    if (this.#sweep) clearInterval(this.#sweep)
    this.#sub.off('message', this.#onMessage)
    this.#sub.off('ready', this.#onSubReady)
    this.#conn.off('ready', this.#onConnReady)
  }

  #ring(channel: string, message: string): void {
    const key = this.#bells.get(channel)
    if (key === undefined) return
    const set = this.#watches.get(key)
    if (!set) return
    // A ring for entries every watch already has (its read overtook the ring) asks nothing.
    const top = parseId(message)
    let behind = !Number.isFinite(top.seq)
    for (const w of set) if (behind || idAfter(top, w.cursor)) behind = true
    if (!behind) return
    this.#dirty.add(key)
    this.#read()
  }

  /** Subscribes and unsubscribes the doorbells changed in this turn, in one command each. */
  #flushSubscriptions(): void {
    if (this.#flushing) return
    this.#flushing = true
    setImmediate(() => {
      this.#flushing = false
      if (this.#closed) return
      const gone = [...this.#toUnsubscribe]
      this.#toUnsubscribe.clear()
      if (gone.length > 0 && this.#sub.status === 'ready') {
        this.#sub.unsubscribe(...gone).catch(() => undefined)
      }
      const bells = [...this.#toSubscribe]
      this.#toSubscribe.clear()
      if (bells.length > 0) this.#subscribe(bells)
    })
  }

  /** SUBSCRIBEs `bells`, then reads their streams; when it fails, the connection's return does both. */
  #subscribe(bells: string[]): void {
    if (this.#sub.status !== 'ready') return
    this.#sub.subscribe(...bells).then(
      () => {
        for (const bell of bells) {
          const key = this.#bells.get(bell)
          if (key !== undefined) this.#dirty.add(key)
        }
        this.#read()
      },
      (err) => {
        if (this.#sub.status === 'ready' && !this.#closed) this.#onError(err, 'redis doorbell subscribe')
      },
    )
  }

  /** The pub/sub connection is back: rings were lost meanwhile, so subscribe again and read everything. */
  #resubscribe(): void {
    if (this.#closed || this.#bells.size === 0) return
    const bells = [...this.#bells.keys()]
    for (let i = 0; i < bells.length; i += this.#batch) this.#subscribe(bells.slice(i, i + this.#batch))
  }

  #readAll(): void {
    if (this.#closed) return
    for (const key of this.#watches.keys()) this.#dirty.add(key)
    this.#read()
  }

  /** Reads the dirty streams, a batch per XREAD, until none is left. */
  #read(): void {
    if (this.#reading || this.#closed || this.#dirty.size === 0) return
    this.#reading = true
    // The rings of one socket read (ioredis emits them all in one go) are read together; a
    // microtask rather than the next loop phase, so a ring costs no extra turn of latency.
    queueMicrotask(() => void this.#drain())
  }

  async #drain(): Promise<void> {
    try {
      while (!this.#closed && this.#dirty.size > 0) {
        if (this.#conn.status !== 'ready') return // its 'ready' reads everything again
        const keys: string[] = []
        const ids: string[] = []
        for (const key of this.#dirty) {
          if (keys.length >= this.#batch) break
          this.#dirty.delete(key)
          const set = this.#watches.get(key)
          if (!set || set.size === 0) continue
          let min: EntryId | undefined
          for (const w of set) if (!min || idAfter(min, w.cursor)) min = w.cursor
          keys.push(key)
          ids.push(formatId(min!))
        }
        if (keys.length === 0) continue
        let reply: unknown
        try {
          this.#reads++
          reply = await this.#conn.call('XREAD', 'COUNT', String(this.#count), 'STREAMS', ...keys, ...ids)
        } catch (err) {
          for (const key of keys) if (this.#watches.has(key)) this.#dirty.add(key)
          if (this.#closed || this.#conn.status !== 'ready') return
          // A refusal on a live connection: worth a log, and a later retry.
          this.#onError(err, 'redis stream reader')
          this.#retry = setTimeout(() => {
            this.#retry = undefined
            this.#read()
          }, 200)
          this.#retry.unref?.()
          return
        }
        if (reply) this.#dispatch(streamsOf(reply))
      }
    } finally {
      this.#reading = false
    }
  }

  #dispatch(reply: [string, [string, string[]][]][]): void {
    for (const [key, raw] of reply) {
      const set = this.#watches.get(key)
      if (!set || raw.length === 0) continue
      // A full page: there is more to read than one XREAD gave.
      if (raw.length >= this.#count) this.#dirty.add(key)
      const records = raw.map(toRecord)
      for (const w of [...set]) {
        const fresh = records.filter((r) => idAfter(r.id, w.cursor))
        if (fresh.length === 0) continue
        w.cursor = fresh[fresh.length - 1]!.id
        try {
          w.onRecords(fresh)
        } catch (err) {
          this.#onError(err, 'redis follower')
        }
      }
    }
  }
}
