/**
 * One WebSocket and the loop that keeps it alive: connect timeout, reconnect with capped
 * exponential backoff and full jitter, a heartbeat watchdog, URL rotation for failover and a
 * bounded queue of frames waiting for the socket. It knows frames, not subscriptions.
 */
import { type ClientFrame, CloseCode, FlowcastError, type HelloFrame, ServerFrame } from '@flowcast/protocol'
import type { ConnectionState, ReconnectOptions, WebSocketConstructor, WebSocketLike } from './types.ts'

export interface ConnectionHooks {
  /** The socket is open and the server said hello; resubscribe here, before queued frames go out. */
  onOpen(hello: HelloFrame): void
  /** A frame that passed the protocol schema (hello excluded). */
  onFrame(frame: ServerFrame): void
  /** A frame that is not JSON or fails the schema; `raw` is what was parsed, when it was JSON. */
  onBadFrame(err: FlowcastError, raw: unknown): void
  /** The socket went away; a reconnect follows unless `terminal` is set. */
  onDrop(terminal: FlowcastError | null): void
  onState(state: ConnectionState): void
}

export interface ConnectionOptions {
  /** WebSocket URLs, token already applied; rotated on each reconnect. */
  urls: string[]
  WebSocket: WebSocketConstructor
  /** Sent as the first frame when the token is kept out of the URL. */
  authToken?: string
  reconnect: Required<ReconnectOptions> | false
  maxQueue: number
}

export const DEFAULT_RECONNECT: Required<ReconnectOptions> = {
  baseMs: 250,
  maxMs: 10_000,
  minUptimeMs: 5_000,
  connectTimeoutMs: 10_000,
}

/** Close codes after which reconnecting cannot help. */
const TERMINAL_CODES: Record<number, 'unauthorized' | 'forbidden'> = {
  [CloseCode.unauthorized]: 'unauthorized',
  [CloseCode.forbidden]: 'forbidden',
}

/** The socket of one client, reconnecting until closed. */
export class Connection {
  #state: ConnectionState = 'connecting'
  #ws: WebSocketLike | null = null
  #urlIndex = 0
  #attempts = 0
  #openedAt = 0
  #lastRx = 0
  #lastPing = 0
  #heartbeatMs = 0
  #pingSeq = 0
  #refused: 'unauthorized' | 'forbidden' | null = null
  #connectTimer: ReturnType<typeof setTimeout> | null = null
  #retryTimer: ReturnType<typeof setTimeout> | null = null
  #watchdog: ReturnType<typeof setInterval> | null = null
  readonly #queue: ClientFrame[] = []
  readonly #opts: ConnectionOptions
  readonly #hooks: ConnectionHooks

  constructor(opts: ConnectionOptions, hooks: ConnectionHooks) {
    this.#opts = opts
    this.#hooks = hooks
    this.#connect()
  }

  get state(): ConnectionState {
    return this.#state
  }

  /** Index into `urls` of the node this socket talks to (or tries to). */
  get urlIndex(): number {
    return this.#urlIndex
  }

  /** Sends now when open; otherwise holds the frame until the next open. Throws `queue_full`. */
  send(frame: ClientFrame): void {
    if (this.#state === 'closed') throw new FlowcastError('connection_closed', 'the client is closed')
    if (this.#state === 'open' && this.#ws) {
      this.#write(frame)
      return
    }
    if (this.#queue.length >= this.#opts.maxQueue)
      throw new FlowcastError('queue_full', `more than ${this.#opts.maxQueue} commands wait for the socket`)
    this.#queue.push(frame)
  }

  /** Sends only when open (for frames that are rebuilt on every open anyway); true when sent. */
  sendIfOpen(frame: ClientFrame): boolean {
    if (this.#state !== 'open' || !this.#ws) return false
    this.#write(frame)
    return true
  }

  /** Takes a queued frame back (its request timed out before the socket opened). */
  unqueue(frame: ClientFrame): void {
    const i = this.#queue.indexOf(frame)
    if (i >= 0) this.#queue.splice(i, 1)
  }

  /** True while `frame` waits in the queue (it was never sent). */
  isQueued(frame: ClientFrame): boolean {
    return this.#queue.includes(frame)
  }

  /** Closes for good: no reconnect, no timer left, the socket closed. */
  close(): void {
    if (this.#state === 'closed') return
    this.#clearTimers()
    this.#queue.length = 0
    const ws = this.#ws
    this.#ws = null
    if (ws) {
      detach(ws)
      try {
        ws.close(1000, 'client closed')
      } catch {
        // a socket that never opened may refuse close(); it is gone either way
      }
    }
    this.#setState('closed')
  }

  #connect(): void {
    const url = this.#opts.urls[this.#urlIndex]!
    let ws: WebSocketLike
    try {
      ws = new this.#opts.WebSocket(url)
    } catch (err) {
      const terminal = new FlowcastError('bad_request', `cannot open a WebSocket to ${url}`, { cause: err })
      this.#hooks.onDrop(terminal)
      this.#fail()
      return
    }
    this.#ws = ws
    this.#refused = null
    const timeoutMs = this.#opts.reconnect ? this.#opts.reconnect.connectTimeoutMs : 10_000
    this.#connectTimer = setTimeout(() => {
      this.#connectTimer = null
      if (this.#ws === ws) this.#drop(null)
    }, timeoutMs)
    ws.onopen = () => {
      if (this.#ws !== ws) return
      this.#lastRx = Date.now()
      if (this.#opts.authToken)
        ws.send(JSON.stringify({ type: 'auth', id: 'auth', token: this.#opts.authToken }))
    }
    ws.onmessage = (ev) => {
      if (this.#ws !== ws) return
      this.#lastRx = Date.now()
      this.#receive(ev.data)
    }
    ws.onclose = (ev) => {
      if (this.#ws !== ws) return
      const code = TERMINAL_CODES[ev.code]
      const terminal = code
        ? new FlowcastError(
            code,
            `the server closed the connection (${ev.code}${ev.reason ? ` ${ev.reason}` : ''})`,
          )
        : this.#refused
          ? new FlowcastError(this.#refused, `the server refused the WebSocket upgrade (${this.#refused})`)
          : null
      this.#drop(terminal)
    }
    // Errors are followed by close (or our own timeout). Node's `ws` names a refused upgrade in the
    // error text; browsers hide it, so there a refused token looks like any failed connect.
    ws.onerror = (ev: { message?: unknown; error?: { message?: unknown } } | undefined) => {
      if (this.#ws !== ws) return
      const text = String(ev?.message ?? ev?.error?.message ?? '')
      const status = /Unexpected server response: (401|403)\b/.exec(text)?.[1]
      if (status) this.#refused = status === '401' ? 'unauthorized' : 'forbidden'
    }
  }

  #receive(data: unknown): void {
    if (typeof data !== 'string') {
      this.#hooks.onBadFrame(new FlowcastError('bad_frame', 'received a binary frame'), undefined)
      return
    }
    let raw: unknown
    try {
      raw = JSON.parse(data)
    } catch (err) {
      this.#hooks.onBadFrame(
        new FlowcastError('bad_frame', 'received a frame that is not JSON', { cause: err }),
        undefined,
      )
      return
    }
    const parsed = ServerFrame.safeParse(raw)
    if (!parsed.success) {
      const issue = parsed.error.issues[0]
      const where = issue?.path.length ? issue.path.map(String).join('.') : '(root)'
      this.#hooks.onBadFrame(
        new FlowcastError(
          'bad_frame',
          `received a frame that fails the protocol at ${where}: ${issue?.message}`,
          {
            details: parsed.error.issues,
          },
        ),
        raw,
      )
      return
    }
    const frame = parsed.data
    if (frame.type === 'hello') {
      this.#onHello(frame)
      return
    }
    this.#hooks.onFrame(frame)
  }

  #onHello(hello: HelloFrame): void {
    if (this.#state === 'open') return
    if (this.#connectTimer) clearTimeout(this.#connectTimer)
    this.#connectTimer = null
    this.#openedAt = Date.now()
    this.#heartbeatMs = hello.heartbeatMs > 0 ? hello.heartbeatMs : 30_000
    this.#lastPing = this.#openedAt
    this.#watchdog = setInterval(() => this.#checkLiveness(), Math.max(50, this.#heartbeatMs / 2))
    this.#setState('open')
    this.#hooks.onOpen(hello)
    // A resubscribe in onOpen may have closed us; flush only while still open.
    while (this.#queue.length > 0 && this.state === 'open') this.#write(this.#queue.shift()!)
  }

  #checkLiveness(): void {
    const now = Date.now()
    const idle = now - this.#lastRx
    if (idle >= 2 * this.#heartbeatMs) {
      this.#drop(null)
      return
    }
    // Browsers hide protocol pings, so an application ping makes silence mean a dead link.
    if (idle >= this.#heartbeatMs && now - this.#lastPing >= this.#heartbeatMs) {
      this.#lastPing = now
      this.#write({ type: 'ping', id: `ping-${++this.#pingSeq}` })
    }
  }

  #write(frame: ClientFrame): void {
    try {
      this.#ws!.send(JSON.stringify(frame))
    } catch {
      // The socket died between the state check and the send; its close event brings the reconnect.
    }
  }

  #drop(terminal: FlowcastError | null): void {
    const ws = this.#ws
    this.#ws = null
    this.#clearTimers()
    if (ws) {
      detach(ws)
      try {
        // `ws` has terminate(): a dead link would otherwise hold the close handshake for 30 s.
        const kill = (ws as { terminate?: () => void }).terminate
        if (typeof kill === 'function') kill.call(ws)
        else ws.close(4000, 'reconnecting')
      } catch {
        // already closed
      }
    }
    const wasOpenLongEnough =
      this.#openedAt > 0 &&
      this.#opts.reconnect &&
      Date.now() - this.#openedAt >= this.#opts.reconnect.minUptimeMs
    if (wasOpenLongEnough) this.#attempts = 0
    this.#openedAt = 0
    const final =
      terminal ??
      (this.#opts.reconnect
        ? null
        : new FlowcastError('connection_closed', 'the connection closed and reconnect is off'))
    this.#hooks.onDrop(final)
    if (final || !this.#opts.reconnect) {
      this.#fail()
      return
    }
    const { baseMs, maxMs } = this.#opts.reconnect
    const ceiling = Math.min(maxMs, baseMs * 2 ** Math.min(this.#attempts, 30))
    this.#attempts++
    this.#urlIndex = (this.#urlIndex + 1) % this.#opts.urls.length
    this.#setState('reconnecting')
    this.#retryTimer = setTimeout(() => {
      this.#retryTimer = null
      if (this.#state !== 'closed') this.#connect()
    }, Math.random() * ceiling)
  }

  #fail(): void {
    this.#queue.length = 0
    this.#clearTimers()
    this.#setState('closed')
  }

  #clearTimers(): void {
    if (this.#connectTimer) clearTimeout(this.#connectTimer)
    if (this.#retryTimer) clearTimeout(this.#retryTimer)
    if (this.#watchdog) clearInterval(this.#watchdog)
    this.#connectTimer = this.#retryTimer = this.#watchdog = null
  }

  #setState(state: ConnectionState): void {
    if (this.#state === state) return
    this.#state = state
    this.#hooks.onState(state)
  }
}

function detach(ws: WebSocketLike): void {
  ws.onopen = null
  ws.onmessage = null
  ws.onclose = null
  ws.onerror = () => {}
}
