/**
 * One outbound frame of a room: its JSON text and what a transport needs to frame it (type, the
 * seq a client resumes after, how many events it carries). No transport bytes are built here:
 * each transport (ws/framing.ts, http/sse.ts) encodes a frame through `encoded`, which keeps the
 * result on the frame, so a room flush is encoded once per transport however many members get it.
 */
import type { BrokerEntry } from '../brokers/broker.ts'

/** How one transport turns a frame into its bytes; the object itself is the cache key. */
export interface FrameEncoding<T> {
  encode(frame: OutFrame): T
}

/** One outbound frame: JSON text, encoded lazily and at most once per transport. */
export class OutFrame {
  readonly json: string
  /** The frame's type (`event`, `events`, `gap`, ...); SSE uses it as the event name. */
  readonly event: string
  /** For event/events/gap/stream_end frames: the seq a client resumes after. */
  readonly lastSeq: number | undefined
  /** How many runtime-stream events the frame carries. */
  readonly count: number
  // The first transport's bytes in two fields: a room is almost always all-WebSocket or all-SSE,
  // and the hot path is then one comparison; a second transport goes to the map.
  #encoding: FrameEncoding<unknown> | undefined
  #encoded: unknown
  #more: Map<FrameEncoding<unknown>, unknown> | undefined
  #byteLength = -1

  constructor(json: string, event: string, lastSeq?: number, count = 0) {
    this.json = json
    this.event = event
    this.lastSeq = lastSeq
    this.count = count
  }

  /** The frame in `encoding`'s bytes, built on first use and shared by every member of that transport. */
  encoded<T>(encoding: FrameEncoding<T>): T {
    if (this.#encoding === encoding) return this.#encoded as T
    if (this.#encoding === undefined) {
      this.#encoding = encoding
      this.#encoded = encoding.encode(this)
      return this.#encoded as T
    }
    this.#more ??= new Map()
    if (!this.#more.has(encoding)) this.#more.set(encoding, encoding.encode(this))
    return this.#more.get(encoding) as T
  }

  /** UTF-8 bytes of the JSON text (what the metrics count), computed once. */
  get byteLength(): number {
    if (this.#byteLength < 0) this.#byteLength = Buffer.byteLength(this.json, 'utf8')
    return this.#byteLength
  }
}

/**
 * The frames of one execution's room, as JSON spliced from cached parts: `"executionId":<json>`
 * once per room, each entry's envelope JSON once per append. Nothing is parsed or re-encoded.
 */
export class RoomFrames {
  /** `"executionId":<json>`, reused by every frame of this room. */
  readonly #idField: string
  /** Bytes a frame adds around its entries' JSON, SSE's `id:/event:/data:` lines included. */
  readonly #overhead: number

  constructor(executionId: string) {
    this.#idField = `"executionId":${JSON.stringify(executionId)}`
    this.#overhead = 96 + Buffer.byteLength(this.#idField, 'utf8')
  }

  /**
   * The frames of a batch, in seq order, none over `maxFrameBytes` (UTF-8 bytes of the JSON, with
   * room for a transport's framing): usually one; a burst larger than that is split. A single
   * entry larger than the bound (maxItemBytes keeps them out) still travels, alone.
   */
  batches(entries: readonly BrokerEntry[], maxFrameBytes: number): OutFrame[] {
    const budget = maxFrameBytes - this.#overhead
    // A UTF-8 byte count is at most 3 per UTF-16 unit: count exactly only when it could matter.
    let units = 0
    for (let i = 0; i < entries.length; i++) units += entries[i]!.json.length + 1
    if (units * 3 <= budget) return [this.events(entries)]
    const out: OutFrame[] = []
    let start = 0
    let bytes = 0
    for (let i = 0; i < entries.length; i++) {
      const b = Buffer.byteLength(entries[i]!.json, 'utf8') + 1
      if (i > start && bytes + b > budget) {
        out.push(this.events(entries.slice(start, i)))
        start = i
        bytes = 0
      }
      bytes += b
    }
    out.push(this.events(start === 0 ? entries : entries.slice(start)))
    return out
  }

  /** One frame for a batch: `event` for one entry, `events` for several; cached JSON concatenated. */
  events(entries: readonly BrokerEntry[]): OutFrame {
    const last = entries[entries.length - 1]!.seq
    if (entries.length === 1) {
      // The envelope's JSON starts with `{"seq":`; splice the frame's fields in front of it.
      return new OutFrame(`{"type":"event",${this.#idField},${entries[0]!.json.slice(1)}`, 'event', last, 1)
    }
    let json = `{"type":"events",${this.#idField},"items":[${entries[0]!.json}`
    for (let i = 1; i < entries.length; i++) json += `,${entries[i]!.json}`
    json += ']}'
    return new OutFrame(json, 'events', last, entries.length)
  }

  status(status: string): OutFrame {
    return new OutFrame(`{"type":"status",${this.#idField},"status":"${status}"}`, 'status')
  }

  gap(from: number, to: number): OutFrame {
    return new OutFrame(`{"type":"gap",${this.#idField},"from":${from},"to":${to}}`, 'gap', to)
  }

  streamEnd(close: { reason: string; by?: string; lastSeq: number }): OutFrame {
    const by = close.by === undefined || close.by === 'flow' ? '' : `,"by":${JSON.stringify(close.by)}`
    return new OutFrame(
      `{"type":"stream_end",${this.#idField},"lastSeq":${close.lastSeq},"reason":"${close.reason}"${by}}`,
      'stream_end',
      close.lastSeq,
    )
  }

  /** An `error` frame about this execution that ends nothing (no request id). */
  error(code: string, message: string): OutFrame {
    return new OutFrame(
      `{"type":"error",${this.#idField},"code":${JSON.stringify(code)},"message":${JSON.stringify(message)}}`,
      'error',
    )
  }

  presence(subscribers: number): OutFrame {
    return new OutFrame(`{"type":"presence",${this.#idField},"subscribers":${subscribers}}`, 'presence')
  }
}
