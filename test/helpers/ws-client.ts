/**
 * A raw protocol client for tests: a `ws` socket that keeps every frame it receives (parsed)
 * and lets a test await a predicate over them with a bound, never a sleep.
 */
import WebSocket from 'ws'
import { waitFor } from './wait.ts'

export type Frame = { type: string; [k: string]: any }

/** A test socket collecting every server frame. */
export class TestSocket {
  readonly ws: WebSocket
  readonly frames: Frame[] = []
  closeCode: number | undefined
  closeReason = ''
  readonly closed: Promise<number>
  readonly #waiters = new Set<() => void>()
  #nextId = 1

  /** The HTTP status the upgrade got: 101 when it was accepted, else the refusal's status. */
  upgradeStatus(timeoutMs = 5000): Promise<number> {
    if (this.ws.readyState === WebSocket.OPEN) return Promise.resolve(101)
    return waitFor(
      new Promise<number>((resolve) => {
        this.ws.once('unexpected-response', (_req, res) => resolve(res.statusCode!))
        this.ws.once('open', () => resolve(101))
      }),
      timeoutMs,
      'the upgrade outcome',
    )
  }

  constructor(url: string, options?: WebSocket.ClientOptions) {
    this.ws = new WebSocket(url, options)
    this.ws.on('message', (data, isBinary) => {
      this.frames.push(isBinary ? { type: '<binary>' } : JSON.parse(data.toString()))
      this.#wake()
    })
    this.closed = new Promise((resolve) => {
      this.ws.on('close', (code, reason) => {
        this.closeCode = code
        this.closeReason = reason.toString()
        this.#wake()
        resolve(code)
      })
    })
    this.ws.on('error', () => {
      // The close event follows and carries what a test asserts on.
    })
  }

  /** Connects to `${base}/ws` and waits for `hello`. */
  static async open(baseUrl: string, timeoutMs = 5000): Promise<TestSocket> {
    const s = new TestSocket(`${baseUrl.replace(/^http/, 'ws')}/ws`)
    await s.next((f) => f.type === 'hello', timeoutMs)
    return s
  }

  /** A fresh request id. */
  id(): number {
    return this.#nextId++
  }

  /** Sends a frame (object as JSON, or a raw string / Buffer as is). */
  send(frame: object | string | Buffer, options?: { binary?: boolean }): void {
    const data = typeof frame === 'string' || Buffer.isBuffer(frame) ? frame : JSON.stringify(frame)
    this.ws.send(data, options ?? {})
  }

  /** Sends `frame` with a fresh id and awaits the reply carrying that id. */
  async request(frame: Record<string, unknown>, timeoutMs = 5000): Promise<Frame> {
    const id = this.id()
    this.send({ ...frame, id })
    return this.next((f) => f.id === id, timeoutMs)
  }

  /** Subscribes and awaits `subscribed` (or throws with the error frame). */
  async subscribe(executionId: string, since?: number): Promise<Frame> {
    const reply = await this.request({
      type: 'subscribe',
      executionId,
      ...(since === undefined ? {} : { since }),
    })
    if (reply.type !== 'subscribed') throw new Error(`subscribe failed: ${JSON.stringify(reply)}`)
    return reply
  }

  /** The first frame (from the start) that matches; waits for it with a bound. */
  next(pred: (f: Frame) => boolean, timeoutMs = 5000, what = 'a matching frame'): Promise<Frame> {
    return this.until(() => this.frames.find(pred), timeoutMs, what)
  }

  /** Resolves with `probe()`'s first truthy value, re-checked on every frame and on close. */
  until<T>(probe: () => T | undefined | false, timeoutMs = 5000, what = 'condition'): Promise<T> {
    const now = probe()
    if (now) return Promise.resolve(now)
    let check!: () => void
    const p = new Promise<T>((resolve) => {
      check = () => {
        const v = probe()
        if (v) {
          this.#waiters.delete(check)
          resolve(v)
        }
      }
      this.#waiters.add(check)
    })
    return waitFor(p, timeoutMs, what).finally(() => this.#waiters.delete(check))
  }

  /** Awaits `stream_end` for `executionId`. */
  streamEnd(executionId: string, timeoutMs = 10_000): Promise<Frame> {
    return this.next(
      (f) => f.type === 'stream_end' && f.executionId === executionId,
      timeoutMs,
      `stream_end of ${executionId}`,
    )
  }

  /** The seqs received for `executionId`, in order, from event and events frames. */
  seqs(executionId: string): number[] {
    const out: number[] = []
    for (const f of this.frames) {
      if (f.executionId !== executionId) continue
      if (f.type === 'event') out.push(f.seq)
      else if (f.type === 'events') for (const it of f.items) out.push(it.seq)
    }
    return out
  }

  /** The data items received for `executionId`, in order. */
  items(executionId: string): unknown[] {
    const out: unknown[] = []
    for (const f of this.frames) {
      if (f.executionId !== executionId) continue
      if (f.type === 'event') out.push(f.data)
      else if (f.type === 'events') for (const it of f.items) out.push(it.data)
    }
    return out
  }

  /** Frames of one type. */
  ofType(type: string): Frame[] {
    return this.frames.filter((f) => f.type === type)
  }

  /** Closes the socket and waits for the close with a bound. */
  async close(): Promise<void> {
    if (this.ws.readyState === WebSocket.CLOSED) return
    this.ws.close()
    await waitFor(this.closed, 3000, 'socket close').catch(() => this.ws.terminate())
  }

  #wake(): void {
    for (const w of [...this.#waiters]) w()
  }
}

/** 1..n, for whole-sequence assertions. */
export function range(from: number, to: number): number[] {
  const out: number[] = []
  for (let i = from; i <= to; i++) out.push(i)
  return out
}
