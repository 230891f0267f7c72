/**
 * The one reader of a node: it reads the streams of the executions this node's rooms (and result
 * waits) follow, and only when they move. The running node's write MULTI ends with one PUBLISH on
 * the deployment's doorbell channel (`<prefix>ticks`) naming every log that batch appended to,
 * each with its new top id and, mostly, the batch's entries of it (ring.ts); a node SUBSCRIBEs
 * that one channel, on its pub/sub connection, while it follows any stream. A watch whose cursor
 * is where the carried entries start takes them as they are; any other ring of a followed stream
 * is answered with a non-blocking XREAD of the rung streams only, from each one's cursor,
 * gathered per socket read. Nothing blocks in Redis and no command names a stream that did not
 * move, so Redis's work follows the events, not the number of followed streams (issue 18: one
 * blocking XREAD re-issued over 5,000 streams cost Redis half a core). One ring per write batch
 * rather than one per stream: at 2,000 events/s the per-stream PUBLISHes were a command per event
 * on the running node, in Redis and on every follower; the price is that a node following any
 * stream hears the rings of all of them (as every node hears every emit with socket.io's Redis
 * adapter), a map lookup per log named and the skipped entries split off unparsed.
 *
 * A ring is a hint; the cursor is the truth. A ring missed cannot lose events: a stream is read
 * once the doorbell's SUBSCRIBE is confirmed (what came before it), every followed stream is
 * read again whenever the pub/sub or the read connection comes back (rings sent while one was
 * away are gone), and, as a last resort, every `sweepMs` (5 s): a write that rang no doorbell is
 * seen that late, never lost.
 */
import type { Redis } from 'ioredis'
import { type EntryId, formatId, idAfter, parseId, type StreamRecord } from './keys.ts'
import { forEachRung, type Rung } from './ring.ts'

export type { StreamRecord } from './keys.ts'

/** A reader of one stream from `cursor` on; the reader advances the cursor as it delivers. */
export interface ReaderWatch {
  readonly key: string
  cursor: EntryId
  onRecords(records: StreamRecord[]): void
}

export interface StreamReaderOptions {
  /** The connection that reads (XREAD without BLOCK); used for nothing else. */
  conn: Redis
  /** The pub/sub connection the doorbell is subscribed on (shared with the command bus). */
  sub: Redis
  /** The doorbell channel: every write batch that appended PUBLISHes a ring (ring.ts) there. */
  bell: string
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
  readonly #bell: string
  readonly #bellBytes: Buffer
  readonly #watches = new Map<string, Set<ReaderWatch>>()
  /** Streams to read at the next XREAD. */
  readonly #dirty = new Set<string>()
  /** Streams added while the doorbell's SUBSCRIBE is not confirmed: read once it is. */
  readonly #awaiting = new Set<string>()
  /** The doorbell is wanted: SUBSCRIBE sent (or due once the connection is ready), no UNSUBSCRIBE since. */
  #bellOn = false
  /** Its SUBSCRIBE is confirmed on the pub/sub connection's current session. */
  #bellHeard = false
  /** Bumped by every SUBSCRIBE and UNSUBSCRIBE: a late confirmation of an undone one is ignored. */
  #bellGen = 0
  #unsubscribing = false
  #reading = false
  #retry: ReturnType<typeof setTimeout> | undefined
  #closed = false
  #reads = 0
  readonly #sweep: ReturnType<typeof setInterval> | undefined
  readonly #onMessage = (channel: Buffer, message: Buffer) => this.#ring(channel, message)
  readonly #onSubReady = () => this.#resubscribe()
  readonly #onSubClose = () => {
    this.#bellHeard = false
  }
  readonly #onConnReady = () => this.#readAll()

  constructor(options: StreamReaderOptions) {
    this.#conn = options.conn
    this.#sub = options.sub
    this.#bell = options.bell
    this.#bellBytes = Buffer.from(options.bell)
    this.#count = options.count ?? 1_000
    this.#batch = options.batch ?? 512
    this.#onError = options.onError ?? (() => undefined)
    // As bytes: the ring's entries become strings of their own (ring.ts), only those followed.
    this.#sub.on('messageBuffer', this.#onMessage)
    this.#sub.on('ready', this.#onSubReady)
    this.#sub.on('close', this.#onSubClose)
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
    }
    set.add(watch)
    if (this.#bellHeard) {
      // Rings reach this node already: a read now covers what came before this watch.
      this.#dirty.add(watch.key)
      this.#read()
      return
    }
    // Read once the SUBSCRIBE is confirmed: rings from then on, the read for what came before.
    this.#awaiting.add(watch.key)
    if (!this.#bellOn) {
      this.#bellOn = true
      this.#subscribe()
    }
  }

  /** Stops delivering to `watch`; once no stream is followed, the doorbell is unsubscribed. */
  remove(watch: ReaderWatch): void {
    const set = this.#watches.get(watch.key)
    if (!set?.delete(watch)) return
    if (set.size > 0) return
    this.#watches.delete(watch.key)
    this.#dirty.delete(watch.key)
    this.#awaiting.delete(watch.key)
    if (this.#watches.size === 0) this.#unsubscribeSoon()
  }

  /** Stops reading (the caller closes the connections). */
  async close(): Promise<void> {
    this.#closed = true
    this.#watches.clear()
    this.#dirty.clear()
    this.#awaiting.clear()
    if (this.#retry) clearTimeout(this.#retry)
    if (this.#sweep) clearInterval(this.#sweep)
    this.#sub.off('messageBuffer', this.#onMessage)
    this.#sub.off('ready', this.#onSubReady)
    this.#sub.off('close', this.#onSubClose)
    this.#conn.off('ready', this.#onConnReady)
  }

  #ring(channel: Buffer, message: Buffer): void {
    if (this.#watches.size === 0 || !channel.equals(this.#bellBytes)) return
    let rung = false
    forEachRung(
      message,
      (key) => this.#watches.has(key),
      (r) => {
        if (this.#rung(r)) rung = true
      },
    )
    if (rung) this.#read()
  }

  /**
   * One log of a ring: a watch at or after `from` takes the carried entries as they are; one
   * behind it (or a log named without entries) is read. True when a read is due.
   */
  #rung(r: Rung): boolean {
    const set = this.#watches.get(r.key)
    if (!set) return false
    let behind = false
    for (const w of [...set]) {
      // A ring for entries the watch already has (its read overtook the ring) asks nothing.
      if (Number.isFinite(r.top.seq) && !idAfter(r.top, w.cursor)) continue
      if (r.from === undefined || idAfter(r.from, w.cursor)) {
        behind = true
        continue
      }
      this.#deliver(w, r.records)
    }
    if (behind) this.#dirty.add(r.key)
    return behind
  }

  /** SUBSCRIBEs the doorbell, then reads the streams awaiting it; when it fails, the connection's return does both. */
  #subscribe(): void {
    if (this.#sub.status !== 'ready') return
    const gen = ++this.#bellGen
    this.#sub.subscribe(this.#bell).then(
      () => {
        if (gen !== this.#bellGen || this.#closed) return
        this.#bellHeard = true
        for (const key of this.#awaiting) this.#dirty.add(key)
        this.#awaiting.clear()
        this.#read()
      },
      (err) => {
        if (gen !== this.#bellGen) return
        // Retried by the next add, the connection's return, or the sweep's reads meanwhile.
        this.#bellOn = false
        if (this.#sub.status === 'ready' && !this.#closed) this.#onError(err, 'redis doorbell subscribe')
      },
    )
  }

  /** At the next turn, if still nothing is followed, UNSUBSCRIBEs the doorbell (a room left and joined again keeps it). */
  #unsubscribeSoon(): void {
    if (this.#unsubscribing) return
    this.#unsubscribing = true
    setImmediate(() => {
      this.#unsubscribing = false
      if (this.#closed || this.#watches.size > 0 || !this.#bellOn) return
      this.#bellOn = false
      this.#bellHeard = false
      this.#bellGen++
      if (this.#sub.status === 'ready') this.#sub.unsubscribe(this.#bell).catch(() => undefined)
    })
  }

  /** The pub/sub connection is back: rings were lost meanwhile, so subscribe again and read everything. */
  #resubscribe(): void {
    if (this.#closed || this.#watches.size === 0) return
    this.#bellOn = true
    this.#bellHeard = false
    for (const key of this.#watches.keys()) this.#awaiting.add(key)
    this.#subscribe()
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
      for (const w of [...set]) this.#deliver(w, records)
    }
  }

  /** Gives `watch` the records after its cursor, and moves the cursor. */
  #deliver(watch: ReaderWatch, records: StreamRecord[]): void {
    const fresh = records.filter((r) => idAfter(r.id, watch.cursor))
    if (fresh.length === 0) return
    watch.cursor = fresh[fresh.length - 1]!.id
    try {
      watch.onRecords(fresh)
    } catch (err) {
      this.#onError(err, 'redis follower')
    }
  }
}
