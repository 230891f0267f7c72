/**
 * The one blocking reader of a node: a dedicated Redis connection running XREAD BLOCK over the
 * streams of every execution this node's rooms (and result waits) follow, never one per
 * subscriber and never a scan of every execution.
 *
 * When the set of streams changes, the pending XREAD is cut short with CLIENT UNBLOCK (sent on
 * the command connection) and re-issued with the new set at once: a new subscriber on this node
 * waits one round trip, not a block timeout. The block timeout only bounds the rare race in which
 * the unblock reaches Redis before the XREAD does (retried a few times, then the timeout wins).
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
  readonly bell?: string
  cursor: EntryId
  onRecords(records: StreamRecord[]): void
}

export interface StreamReaderOptions {
  /** The connection that blocks; used for nothing else. */
  conn: Redis
  /** A non-blocking connection that sends CLIENT UNBLOCK. */
  control: Redis
  blockMs?: number
  count?: number
  onError?: (err: unknown, context: string) => void
}

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

/** Multiplexes every followed stream of this node onto one blocking XREAD. */
export class StreamReader {
  readonly #conn: Redis
  readonly #control: Redis
  readonly #blockMs: number
  readonly #count: number
  readonly #onError: (err: unknown, context: string) => void
  readonly #watches = new Map<string, Set<ReaderWatch>>()
  #clientId: number | undefined
  #reading = false
  #unblocking = false
  #generation = 0
  #wake: (() => void) | undefined
  #closed = false
  readonly #done: Promise<void>

  constructor(options: StreamReaderOptions) {
    this.#conn = options.conn
    this.#control = options.control
    this.#blockMs = options.blockMs ?? 5_000
    this.#count = options.count ?? 1_000
    this.#onError = options.onError ?? (() => undefined)
    // A reconnected connection has a new client id; the old one must never be unblocked.
    this.#conn.on('close', () => {
      this.#clientId = undefined
    })
    this.#conn.on('ready', () => this.#wake?.())
    this.#done = this.#run()
  }

  /** Streams followed right now. */
  get streams(): number {
    return this.#watches.size
  }

  /** Starts delivering records after `watch.cursor`. */
  add(watch: ReaderWatch): void {
    let set = this.#watches.get(watch.key)
    if (!set) {
      set = new Set()
      this.#watches.set(watch.key, set)
    }
    set.add(watch)
    this.#changed()
  }

  /** Stops delivering to `watch`. A removed stream may linger in the pending XREAD; its records are dropped. */
  remove(watch: ReaderWatch): void {
    const set = this.#watches.get(watch.key)
    if (!set?.delete(watch)) return
    if (set.size === 0) this.#watches.delete(watch.key)
  }

  /** Stops the loop (the caller closes the connections). */
  async close(): Promise<void> {
    this.#closed = true
    this.#watches.clear()
    this.#wake?.()
    if (this.#reading) await this.#unblock()
    await Promise.race([this.#done, new Promise((r) => setTimeout(r, 200).unref())])
  }

  #changed(): void {
    if (this.#reading) void this.#unblock()
    else this.#wake?.()
  }

  async #unblock(): Promise<void> {
    if (this.#unblocking) return
    this.#unblocking = true
    const generation = this.#generation
    try {
      // The XREAD may still be on its way to Redis: retry briefly until it is there to unblock.
      for (let i = 0; i < 25 && this.#reading && this.#generation === generation; i++) {
        const id = this.#clientId
        if (id === undefined || this.#control.status !== 'ready') return
        const n = await this.#control.call('CLIENT', 'UNBLOCK', String(id)).catch(() => 0)
        if (n === 1) return
        await new Promise((r) => setTimeout(r, 2))
      }
    } finally {
      this.#unblocking = false
    }
  }

  /** Resolves on add(), on the connection becoming ready, on close(), or after `ms`. */
  #pause(ms: number): Promise<void> {
    return new Promise<void>((resolve) => {
      const timer = setTimeout(done, ms)
      this.#wake = done
      function done(): void {
        clearTimeout(timer)
        resolve()
      }
    }).then(() => {
      this.#wake = undefined
    })
  }

  async #run(): Promise<void> {
    while (!this.#closed) {
      if (this.#watches.size === 0) {
        await this.#pause(60_000)
        continue
      }
      if (this.#conn.status !== 'ready') {
        await this.#pause(500)
        continue
      }
      try {
        this.#clientId ??= Number(await this.#conn.call('CLIENT', 'ID'))
      } catch {
        await this.#pause(200)
        continue
      }
      const keys: string[] = []
      const ids: string[] = []
      for (const [key, set] of this.#watches) {
        let min: EntryId | undefined
        for (const w of set) if (!min || idAfter(min, w.cursor)) min = w.cursor
        keys.push(key)
        ids.push(formatId(min!))
      }
      this.#reading = true
      this.#generation++
      let reply: unknown
      try {
        reply = await this.#conn.call(
          'XREAD',
          'COUNT',
          String(this.#count),
          'BLOCK',
          String(this.#blockMs),
          'STREAMS',
          ...keys,
          ...ids,
        )
      } catch (err) {
        this.#reading = false
        if (this.#closed) break
        // A lost connection is reported by /healthz; only a refusal on a live one is worth a log.
        if (this.#conn.status === 'ready') this.#onError(err, 'redis stream reader')
        await this.#pause(200)
        continue
      }
      this.#reading = false
      if (reply) this.#dispatch(streamsOf(reply))
    }
  }

  #dispatch(reply: [string, [string, string[]][]][]): void {
    for (const [key, raw] of reply) {
      const set = this.#watches.get(key)
      if (!set || raw.length === 0) continue
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
