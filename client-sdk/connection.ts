/**
 * One WebSocket and the loop that keeps it alive: connect timeout, reconnect with capped
 * exponential backoff and full jitter, a heartbeat watchdog, URL rotation for failover, a fresh
 * credential on every attempt and a bounded queue of frames waiting for the socket. It knows
 * frames, not subscriptions, and opens nothing until `start()`.
 */
import {
  type ClientFrame,
  CloseCode,
  checkServerFrame,
  FlowcastError,
  type HelloFrame,
  type ServerFrame,
} from '@flowcast/protocol'
import type {
  ConnectionState,
  ReconnectOptions,
  TokenRequest,
  WebSocketConstructor,
  WebSocketLike,
} from './types.ts'

export interface ConnectionHooks {
  /** The socket is open and the server said hello; resubscribe here, before queued frames go out. */
  onOpen(hello: HelloFrame): void
  /** A frame that passed the protocol check (hello excluded). */
  onFrame(frame: ServerFrame): void
  /** A frame that is not JSON or fails the check; `raw` is what was parsed, when it was JSON. */
  onBadFrame(err: FlowcastError, raw: unknown): void
  /** The socket went away; a reconnect follows unless `terminal` is set. */
  onDrop(terminal: FlowcastError | null): void
  /** An attempt failed before `hello`; `failures` counts such attempts in a row. */
  onAttemptFailed(failures: number, err: FlowcastError | null): void
  onState(state: ConnectionState): void
}

export interface ConnectionOptions {
  /** WebSocket URLs (a static `?token=` already applied); rotated on each reconnect. */
  urls: string[]
  /** Resolved at the first attempt, so that making a client where there is no WebSocket (SSR) is fine. */
  WebSocket: () => WebSocketConstructor
  /** The credential for the `auth` first frame, asked before every attempt; undefined sends none. */
  credential?: (request: TokenRequest) => string | undefined | Promise<string | undefined>
  /** A refused credential (401 upgrade, close 4001) is asked for again instead of ending the client. */
  refreshOnRefusal: boolean
  /** Longest silence before a ping; twice it and the link is dead. */
  heartbeatMs: number
  reconnect: Required<ReconnectOptions> | false
  maxQueue: number
}

/** Close codes after which reconnecting with the same credential cannot help. */
const TERMINAL_CODES: Record<number, 'unauthorized' | 'forbidden'> = {
  [CloseCode.unauthorized]: 'unauthorized',
  [CloseCode.forbidden]: 'forbidden',
}

/** The socket of one client, reconnecting until closed. */
export class Connection {
  #state: ConnectionState = 'idle'
  #ws: WebSocketLike | null = null
  #urlIndex = 0
  #attempts = 0
  /** Attempts in a row that never reached `hello`. */
  #failures = 0
  #openedAt = 0
  #lastRx = 0
  #lastPing = 0
  #heartbeatMs = 0
  #pingSeq = 0
  /** Why the next credential is asked for. */
  #reason: TokenRequest['reason'] = 'connect'
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
  }

  get state(): ConnectionState {
    return this.#state
  }

  /** Index into `urls` of the node this socket talks to (or tries to). */
  get urlIndex(): number {
    return this.#urlIndex
  }

  /** Opens the socket if nothing is open or under way yet. */
  start(): void {
    if (this.#state !== 'idle') return
    this.#setState('connecting')
    this.#connect()
  }

  /**
   * The network came back or the page became visible: reconnect now rather than after the
   * backoff, or, when open, ping now so that a link that died meanwhile is found out soon.
   */
  wake(): void {
    if (this.#state === 'open') {
      this.#ping(Date.now())
      return
    }
    if (this.#state !== 'reconnecting' || !this.#retryTimer) return
    clearTimeout(this.#retryTimer)
    this.#retryTimer = null
    this.#attempts = 0
    this.#connect()
  }

  /** The device says it is offline: the socket cannot be alive, so drop it now (reconnecting). */
  offline(): void {
    if (this.#state === 'open' || this.#state === 'connecting') this.#drop(null)
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
    this.start()
  }

  /** Sends only when open (for frames that are rebuilt on every open anyway); true when sent. */
  sendIfOpen(frame: ClientFrame): boolean {
    if (this.#state !== 'open' || !this.#ws) return false
    this.#write(frame)
    return true
  }

  /** Takes a queued frame back (its request timed out or was aborted before the socket opened). */
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

  async #connect(): Promise<void> {
    const timeoutMs = this.#opts.reconnect ? this.#opts.reconnect.connectTimeoutMs : 10_000
    // One timer bounds the credential and the handshake together: a getToken that hangs is a failed attempt.
    const attempt = {}
    this.#ws = attempt as WebSocketLike
    this.#connectTimer = setTimeout(() => {
      this.#connectTimer = null
      if (this.#ws === attempt || (this.#ws && this.#state !== 'open')) this.#failAttempt(null)
    }, timeoutMs)
    let credential: string | undefined
    try {
      const reason = this.#reason
      this.#reason = 'connect'
      credential = this.#opts.credential ? await this.#opts.credential({ reason }) : undefined
    } catch (err) {
      if (this.#ws === attempt)
        this.#failAttempt(new FlowcastError('unauthorized', 'getToken failed', { cause: err }))
      return
    }
    if (this.#ws !== attempt) return
    const url = this.#opts.urls[this.#urlIndex]!
    let ws: WebSocketLike
    try {
      ws = new (this.#opts.WebSocket())(url)
    } catch (err) {
      this.#ws = null
      this.#hooks.onDrop(
        err instanceof FlowcastError
          ? err
          : new FlowcastError('bad_request', `cannot open a WebSocket to ${url}`, { cause: err }),
      )
      this.#fail()
      return
    }
    this.#ws = ws
    this.#refused = null
    ws.onopen = () => {
      if (this.#ws !== ws) return
      this.#lastRx = Date.now()
      if (credential) ws.send(JSON.stringify({ type: 'auth', id: 'auth', token: credential }))
    }
    ws.onmessage = (ev) => {
      if (this.#ws !== ws) return
      this.#lastRx = Date.now()
      this.#receive(ev.data)
    }
    ws.onclose = (ev) => {
      if (this.#ws !== ws) return
      const code = TERMINAL_CODES[ev.code] ?? this.#refused
      const err = code
        ? new FlowcastError(
            code,
            this.#refused
              ? `the server refused the WebSocket upgrade (${code})`
              : `the server closed the connection (${ev.code}${ev.reason ? ` ${ev.reason}` : ''})`,
          )
        : null
      // With a token source, a refused token is asked for again; anything else refused stays refused.
      if (err?.code === 'unauthorized' && this.#opts.refreshOnRefusal) {
        this.#reason = 'refused'
        if (this.#state === 'open') this.#drop(null)
        else this.#failAttempt(err)
        return
      }
      if (err) this.#drop(err)
      else if (this.#state === 'open') this.#drop(null)
      else this.#failAttempt(null)
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
    const checked = checkServerFrame(raw)
    if (!checked.ok) {
      this.#hooks.onBadFrame(
        new FlowcastError('bad_frame', `received a frame that fails the protocol ${checked.error}`),
        raw,
      )
      return
    }
    const frame = checked.frame
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
    this.#failures = 0
    this.#openedAt = Date.now()
    const serverBeat = hello.heartbeatMs > 0 ? hello.heartbeatMs : Number.POSITIVE_INFINITY
    this.#heartbeatMs = Math.min(this.#opts.heartbeatMs, serverBeat)
    this.#lastPing = this.#openedAt
    this.#watchdog = setInterval(() => this.#checkLiveness(), this.#tick())
    this.#setState('open')
    this.#hooks.onOpen(hello)
    // A resubscribe in onOpen may have closed us; flush only while still open.
    while (this.#queue.length > 0 && this.state === 'open') this.#write(this.#queue.shift()!)
  }

  #checkLiveness(): void {
    const now = Date.now()
    const idle = now - this.#lastRx
    // Checked every tick, so a link silent for 2 heartbeats minus one tick is dead: found within 2.
    if (idle >= 2 * this.#heartbeatMs - this.#tick()) {
      this.#drop(null)
      return
    }
    // Browsers hide protocol pings, so an application ping makes silence mean a dead link.
    if (idle >= this.#heartbeatMs && now - this.#lastPing >= this.#heartbeatMs) this.#ping(now)
  }

  /** The watchdog's period: a tenth of the heartbeat. */
  #tick(): number {
    return Math.max(20, this.#heartbeatMs / 10)
  }

  #ping(now: number): void {
    this.#lastPing = now
    this.#write({ type: 'ping', id: `ping-${++this.#pingSeq}` })
  }

  #write(frame: ClientFrame): void {
    try {
      this.#ws!.send(JSON.stringify(frame))
    } catch {
      // The socket died between the state check and the send; its close event brings the reconnect.
    }
  }

  /** An attempt that never reached `hello` failed; counted for the SSE fallback, then retried. */
  #failAttempt(err: FlowcastError | null): void {
    this.#failures++
    this.#hooks.onAttemptFailed(this.#failures, err)
    this.#drop(null)
  }

  #drop(terminal: FlowcastError | null): void {
    const ws = this.#ws
    this.#ws = null
    this.#clearTimers()
    if (ws && 'send' in ws) {
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
