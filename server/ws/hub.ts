/**
 * The WebSocket adapter: `ws` in noServer mode on the HTTP server's upgrade at /ws. It turns
 * sockets into room Peers, validates every inbound frame at the edge with the protocol's zod
 * schemas, answers with typed errors (the socket stays open), and runs the heartbeat.
 *
 * The gate in front of a socket, in order: path, Origin (403), connections per address (429),
 * `?token=` (401). A socket without `?token=` on a server with auth on must send an `auth`
 * frame first; anything else, a bad token or silence past `authTimeoutMs` closes it with 4001.
 */
import type { IncomingMessage } from 'node:http'
import type { Duplex } from 'node:stream'
import {
  AuthFrame,
  CLIENT_FRAME_TYPES,
  ClientFrame,
  CloseCode,
  type ContinueFrame,
  type FlowcastErrorCode,
  isFlowcastError,
  PROTOCOL_VERSION,
  type StopStreamFrame,
  type SubscribeFrame,
  type UnsubscribeFrame,
} from '@flowcast/protocol'
import { nanoid } from 'nanoid'
import type { Logger } from 'pino'
import { type WebSocket, WebSocketServer } from 'ws'
import type { z } from 'zod'
import type { AddressSlots } from '../address-slots.ts'
import type { AccessResolver, Principal } from '../auth/access.ts'
import type { Broker } from '../brokers/broker.ts'
import type { OutFrame, Peer, Room, Rooms } from '../fanout/room.ts'
import { redactUrl } from '../log.ts'
import type { ServerMetrics } from '../metrics.ts'
import type { ServerLimits } from '../options.ts'
import { sendText } from './framing.ts'
import { TokenBucket } from './token-bucket.ts'

type RequestId = string | number

/** A subscription slot: pending while its room opens, then the room. */
type Slot = { room: Room | undefined }

/** Outbound bytes queued on sockets, as far as the server can see them (metrics, tests). */
export class QueueStats {
  /** The most bytes ever found queued on one socket right after a send. */
  peak = 0
}

/** What every Connection of one hub shares: one object, so that each socket pays for a pointer. */
interface ConnContext {
  readonly stats: QueueStats
  readonly limits: ServerLimits
  readonly onTooSlow: (conn: Connection) => void
}

class Connection implements Peer {
  readonly id = nanoid(12)
  readonly subs = new Map<string, Slot>()
  /** Set by a pong only: frames the client sends prove nothing about whether it reads. */
  alive = true
  /** Bytes of control replies sent while the queue was above the high-water mark since it was last below. */
  overdraft = 0
  readonly bucket: TokenBucket
  /** Undefined until an `auth` frame succeeds (auth on, no `?token=`). */
  principal: Principal | undefined
  /** Frames that arrived while the `auth` frame was being checked, handled in order after it. */
  backlog: { data: Buffer; isBinary: boolean }[] | undefined
  authTimer: ReturnType<typeof setTimeout> | undefined

  constructor(
    readonly ws: WebSocket,
    principal: Principal | undefined,
    readonly address: string,
    readonly ctx: ConnContext,
  ) {
    this.principal = principal
    const { commandsPerSecond, rateLimitWindowMs } = ctx.limits
    this.bucket = new TokenBucket(commandsPerSecond, commandsPerSecond, undefined, rateLimitWindowMs)
  }

  get bufferedAmount(): number {
    return this.ws.bufferedAmount
  }

  get open(): boolean {
    return this.ws.readyState === this.ws.OPEN
  }

  send(frame: OutFrame): void {
    if (!this.open) return
    sendText(this.ws, frame.ws, frame.wsFrame)
    this.#observe()
  }

  /**
   * Sends a control frame (hello, subscribed, ack, error, pong): per-socket JSON is fine off the hot
   * path. Replies cannot wait for a drain as events do, so past the high-water mark they draw on
   * `controlOverdraftBytes`; the reply that would exceed it closes the socket with 4008 instead.
   */
  json(value: unknown): void {
    if (!this.open) return
    const text = JSON.stringify(value)
    const { highWaterMark, controlOverdraftBytes } = this.ctx.limits
    if (this.ws.bufferedAmount <= highWaterMark) this.overdraft = 0
    else {
      this.overdraft += text.length
      if (this.overdraft > controlOverdraftBytes) {
        this.ctx.onTooSlow(this)
        return
      }
    }
    this.ws.send(text)
    this.#observe()
  }

  #observe(): void {
    const queued = this.ws.bufferedAmount
    if (queued > this.ctx.stats.peak) this.ctx.stats.peak = queued
  }

  close(code: number, reason: string): void {
    if (this.ws.readyState === this.ws.OPEN || this.ws.readyState === this.ws.CONNECTING)
      this.ws.close(code, reason)
  }

  /**
   * Closes an abusive socket (4008, 4029): the close frame waits behind whatever is queued, and a
   * client that does not read would hold that queue until ws's 30 s close timeout, so the socket
   * is terminated if the close handshake has not finished after a short grace.
   */
  evict(code: number, reason: string): void {
    if (this.ws.readyState !== this.ws.OPEN && this.ws.readyState !== this.ws.CONNECTING) return
    this.ws.close(code, reason)
    const ws = this.ws
    setTimeout(() => {
      if (ws.readyState !== ws.CLOSED) ws.terminate()
    }, EVICT_GRACE_MS).unref()
  }
}

/** How long an evicted socket gets to finish the close handshake before it is terminated. */
const EVICT_GRACE_MS = 1000

export interface HubDeps {
  broker: Broker
  rooms: Rooms
  /** The per-address cap, shared with the SSE route. */
  addresses: AddressSlots
  access: AccessResolver
  limits: ServerLimits
  /** `'*'` or the exact origins (scheme://host[:port]) allowed to open sockets. */
  allowedOrigins: '*' | string[]
  metrics: () => ServerMetrics | undefined
  logger: Logger
  onError: (err: unknown, context: string) => void
}

/** Every WebSocket connection of one server. */
export class WsHub {
  readonly #deps: HubDeps
  readonly #wss: WebSocketServer
  readonly #connections = new Set<Connection>()
  /** Open (or opening) sockets and SSE responses per client address. */
  readonly #addresses: AddressSlots
  readonly #origins: Set<string> | undefined
  readonly #heartbeat: ReturnType<typeof setInterval>
  readonly stats = new QueueStats()
  readonly #ctx: ConnContext
  #closing = false
  // One listener of each kind for every socket (the socket is `this`, its Connection is tagged on
  // it): per-socket closures would cost each idle subscriber a few hundred bytes.
  readonly #onWsMessage: (this: WebSocket, data: Buffer, isBinary: boolean) => void
  readonly #onWsClose: (this: WebSocket, code: number) => void
  readonly #onSocketClose: (this: Duplex) => void

  constructor(deps: HubDeps) {
    this.#deps = deps
    this.#addresses = deps.addresses
    this.#wss = new WebSocketServer({
      noServer: true,
      maxPayload: deps.limits.maxPayload,
      perMessageDeflate: false,
      clientTracking: false,
    })
    this.#origins = deps.allowedOrigins === '*' ? undefined : new Set(deps.allowedOrigins)
    this.#ctx = { stats: this.stats, limits: deps.limits, onTooSlow: (conn) => this.#tooSlow(conn) }
    const hub = this
    this.#onWsMessage = function (data, isBinary) {
      const conn = (this as Tagged)[CONN]
      if (!conn) return
      if (!conn.principal) hub.#preAuth(conn, data, isBinary)
      else hub.#handle(conn, data, isBinary)
    }
    this.#onSocketClose = function () {
      hub.#releaseAddress(this)
    }
    this.#onWsClose = function (code) {
      const conn = (this as Tagged)[CONN]
      if (!conn) return
      hub.#deps.logger.debug({ connectionId: conn.id, code }, 'ws closed')
      hub.#drop(conn)
    }
    this.#heartbeat = setInterval(() => this.#beat(), deps.limits.heartbeatMs)
    this.#heartbeat.unref()
  }

  get connections(): number {
    return this.#connections.size
  }

  /** Outbound bytes queued right now over every socket. */
  get queuedBytes(): number {
    let n = 0
    for (const c of this.#connections) n += c.ws.bufferedAmount
    return n
  }

  /** The Node server's `upgrade` handler. */
  handleUpgrade(req: IncomingMessage, socket: Duplex, head: Buffer): void {
    const { logger } = this.#deps
    const path = (req.url ?? '/').split('?')[0]
    if (this.#closing || path !== '/ws') {
      refuse(socket, this.#closing ? 503 : 404)
      return
    }
    socket.on('error', destroySelf)
    const origin = req.headers.origin
    if (origin !== undefined && this.#origins && !this.#origins.has(origin)) {
      this.#refused('origin')
      logger.info({ origin, url: redactUrl(req.url) }, 'ws upgrade refused: origin not allowed')
      refuse(socket, 403)
      return
    }
    const address = req.socket.remoteAddress ?? 'unknown'
    // Counted from now, so that upgrades racing through the token check cannot overshoot the cap.
    if (!this.#addresses.take(address)) {
      this.#refused('per_address')
      logger.warn({ address }, 'ws upgrade refused: too many connections from one address')
      refuse(socket, 429)
      return
    }
    const release = this.#holdAddress(address, socket)
    this.#deps.access.fromUpgrade(req).then(
      (principal) => {
        if (this.#closing || socket.destroyed) {
          release()
          socket.destroy()
          return
        }
        this.#wss.handleUpgrade(req, socket, head, (ws) => this.#accept(ws, principal, address))
      },
      (err) => {
        release()
        const unauthorized = isFlowcastError(err, 'unauthorized')
        if (unauthorized) this.#authFailed('upgrade', err.message, address)
        else this.#deps.onError(err, 'ws upgrade')
        refuse(socket, unauthorized ? 401 : 500)
      },
    )
  }

  /**
   * Counts `socket` against `address` until it closes (or `release` is called first). The address
   * is tagged on the socket and one shared listener releases it: a closure per socket (and the
   * wrapper `once` adds) would keep handleUpgrade's scope, the upgrade request with its headers
   * and head buffer, alive for the socket's whole life.
   */
  #holdAddress(address: string, socket: Duplex): () => void {
    ;(socket as HeldSocket)[ADDRESS] = address
    socket.on('close', this.#onSocketClose)
    return () => this.#releaseAddress(socket)
  }

  #releaseAddress(socket: Duplex): void {
    const address = (socket as HeldSocket)[ADDRESS]
    if (address === undefined) return
    ;(socket as HeldSocket)[ADDRESS] = undefined
    this.#addresses.release(address)
  }

  /** Closes every socket with `code` (1001 going away, 1012 restarting) and stops the heartbeat. */
  async close(code: number = CloseCode.goingAway): Promise<void> {
    this.#closing = true
    clearInterval(this.#heartbeat)
    const closed = [...this.#connections].map(
      (c) =>
        new Promise<void>((resolve) => {
          if (c.ws.readyState === c.ws.CLOSED) return resolve()
          c.ws.once('close', () => resolve())
          c.close(code, code === CloseCode.restarting ? 'server restarting' : 'server going away')
          // A peer that never answers the close handshake must not hold the shutdown.
          setTimeout(() => c.ws.terminate(), 1000).unref()
        }),
    )
    await Promise.all(closed)
    this.#wss.close()
  }

  #accept(ws: WebSocket, principal: Principal | undefined, address: string): void {
    const { limits } = this.#deps
    const conn = new Connection(ws, principal, address, this.#ctx)
    this.#connections.add(conn)
    ;(ws as Tagged)[CONN] = conn
    ws.on('pong', onPong)
    ws.on('message', this.#onWsMessage)
    ws.on('error', ignoreError)
    ws.on('close', this.#onWsClose)
    if (!principal) {
      conn.authTimer = setTimeout(() => {
        conn.authTimer = undefined
        if (conn.principal) return
        this.#authFailed('ws', 'no auth frame in time', address)
        conn.close(CloseCode.unauthorized, 'auth timeout')
      }, limits.authTimeoutMs)
      return
    }
    this.#welcome(conn)
  }

  #handle(conn: Connection, data: Buffer, isBinary: boolean): void {
    this.#onMessage(conn, data, isBinary).catch((err) => {
      this.#deps.onError(err, 'ws message')
      conn.json({ type: 'error', code: 'internal', message: 'internal error' })
    })
  }

  /** A frame on a socket that has not authenticated: the first must be a valid `auth` frame. */
  #preAuth(conn: Connection, data: Buffer, isBinary: boolean): void {
    if (conn.backlog) {
      // The auth frame is being checked; keep order, but a client may not pile up frames meanwhile.
      if (conn.backlog.length >= this.#deps.limits.maxSubscriptions + 8) {
        conn.evict(CloseCode.rateLimited, 'too many frames before auth')
        return
      }
      conn.backlog.push({ data, isBinary })
      return
    }
    const frame = isBinary ? undefined : parseAuthFrame(data)
    if (!frame) {
      this.#authFailed('ws', 'first frame is not auth', conn.address)
      conn.close(CloseCode.unauthorized, 'the first frame must be auth')
      return
    }
    conn.backlog = []
    this.#deps.access.fromToken(frame.token).then(
      (principal) => {
        if (!conn.open) return
        if (conn.authTimer) clearTimeout(conn.authTimer)
        conn.authTimer = undefined
        conn.principal = principal
        if (frame.id !== undefined)
          conn.json({ type: 'ack', id: frame.id, authenticated: true, role: principal.role })
        this.#welcome(conn)
        const queued = conn.backlog ?? []
        conn.backlog = undefined
        for (const f of queued) this.#handle(conn, f.data, f.isBinary)
      },
      (err) => {
        conn.backlog = undefined
        const reason = isFlowcastError(err, 'unauthorized') ? err.message : 'token check failed'
        if (!isFlowcastError(err)) this.#deps.onError(err, 'ws auth')
        this.#authFailed('ws', reason, conn.address)
        conn.close(CloseCode.unauthorized, reason)
      },
    )
  }

  #authFailed(transport: 'upgrade' | 'ws', reason: string, address: string): void {
    this.#deps.metrics()?.authFailures.inc({ transport })
    this.#deps.logger.info({ transport, reason, address }, 'auth failed')
  }

  #refused(reason: string): void {
    this.#deps.metrics()?.connectionsRefused.inc({ reason })
  }

  #welcome(conn: Connection): void {
    const { limits, logger } = this.#deps
    logger.debug(
      {
        connectionId: conn.id,
        address: conn.address,
        role: conn.principal?.role,
        scope: conn.principal?.scope,
      },
      'ws open',
    )
    conn.json({
      type: 'hello',
      protocol: PROTOCOL_VERSION,
      connectionId: conn.id,
      heartbeatMs: limits.heartbeatMs,
      limits: {
        maxPayload: limits.maxPayload,
        maxSubscriptions: limits.maxSubscriptions,
        commandsPerSecond: limits.commandsPerSecond,
      },
    })
  }

  #drop(conn: Connection): void {
    if (conn.authTimer) clearTimeout(conn.authTimer)
    conn.authTimer = undefined
    conn.backlog = undefined
    if (!this.#connections.delete(conn)) return
    for (const slot of conn.subs.values()) slot.room?.unsubscribe(conn)
    conn.subs.clear()
  }

  #beat(): void {
    for (const c of this.#connections) {
      if (!c.alive) {
        c.ws.terminate()
        continue
      }
      c.alive = false
      c.ws.ping()
    }
  }

  async #onMessage(conn: Connection, data: Buffer, isBinary: boolean): Promise<void> {
    // Every inbound frame costs a token, the malformed ones too: they cost the server a reply.
    if (!conn.bucket.take()) {
      this.#deps.metrics()?.rateLimited.inc()
      const { rateLimitCloseAfter, rateLimitWindowMs } = this.#deps.limits
      if (conn.bucket.refusals >= rateLimitCloseAfter) {
        this.#deps.logger.warn(
          { connectionId: conn.id, address: conn.address, refusals: conn.bucket.refusals, rateLimitWindowMs },
          'ws closed: rate limited',
        )
        conn.evict(CloseCode.rateLimited, 'rate limited')
        return
      }
      // A refused frame costs no parse: the id is echoed only from the prefix every client writes.
      return this.#rateLimited(conn, isBinary ? undefined : leadingId(data))
    }
    if (isBinary) return this.#reject(conn, undefined, 'bad_frame', 'binary frames are not supported')
    let raw: unknown
    try {
      raw = JSON.parse(data.toString('utf8'))
    } catch {
      return this.#reject(conn, undefined, 'bad_frame', 'malformed JSON')
    }
    const obj =
      typeof raw === 'object' && raw !== null && !Array.isArray(raw)
        ? (raw as Record<string, unknown>)
        : undefined
    const id = obj && isRequestId(obj.id) ? obj.id : undefined
    if (!obj) return this.#reject(conn, undefined, 'bad_frame', 'a frame must be a JSON object')
    if (typeof obj.type !== 'string' || !(CLIENT_FRAME_TYPES as readonly string[]).includes(obj.type)) {
      return this.#reject(conn, id, 'unknown_type', `unknown frame type ${clip(JSON.stringify(obj.type))}`)
    }
    const parsed = ClientFrame.safeParse(raw)
    if (!parsed.success) {
      const issue = parsed.error.issues[0]
      const where = issue && issue.path.length > 0 ? issue.path.join('.') : '(frame)'
      return this.#reject(
        conn,
        id,
        'bad_frame',
        clip(`${obj.type}: ${where}: ${issue?.message ?? 'invalid'}`),
      )
    }
    const frame = parsed.data
    switch (frame.type) {
      case 'subscribe':
        return this.#subscribe(conn, frame)
      case 'unsubscribe':
        return this.#unsubscribe(conn, frame)
      case 'stop_stream':
        return this.#stop(conn, frame)
      case 'continue':
        return this.#continue(conn, frame)
      case 'ping':
        return conn.json({ type: 'pong', id: frame.id })
      case 'auth':
        if (this.#deps.access.enabled) {
          // A socket authenticates once; its rights do not change while it is open.
          return this.#reject(conn, frame.id, 'invalid_state', 'this socket is already authenticated')
        }
        // Auth is off: the socket already may do everything; acknowledge so clients can send it blindly.
        if (frame.id !== undefined) conn.json({ type: 'ack', id: frame.id, authenticated: true })
        return
    }
  }

  async #subscribe(conn: Connection, f: z.infer<typeof SubscribeFrame>): Promise<void> {
    const { executionId } = f
    if (conn.subs.has(executionId)) {
      return this.#reject(
        conn,
        f.id,
        'already_subscribed',
        `already subscribed to ${executionId}`,
        executionId,
      )
    }
    if (conn.subs.size >= this.#deps.limits.maxSubscriptions) {
      return this.#reject(
        conn,
        f.id,
        'too_many_subscriptions',
        `at most ${this.#deps.limits.maxSubscriptions} subscriptions per socket`,
        executionId,
      )
    }
    if (!conn.principal?.canRead(executionId)) {
      return this.#reject(conn, f.id, 'forbidden', `no read access to ${executionId}`, executionId)
    }
    const slot: Slot = { room: undefined }
    conn.subs.set(executionId, slot)
    // Unsubscribed (or closed) while the room opened: the slot is no longer this request's.
    const wanted = () => conn.subs.get(executionId) === slot && conn.open
    let found: boolean | undefined
    let joined = false
    try {
      found = await this.#deps.rooms.enter(executionId, (room) => {
        if (!wanted()) return true
        room.subscribe(conn, f.since ?? 0, (info) =>
          conn.json({ type: 'subscribed', id: f.id, executionId, ...info }),
        )
        slot.room = room
        joined = true
        return true
      })
    } catch (err) {
      // A broker may fail to open a room (its store is away), or `since` is out of range: this
      // subscription is told, and freed.
      if (conn.subs.get(executionId) === slot) conn.subs.delete(executionId)
      if (isFlowcastError(err)) return this.#reject(conn, f.id, err.code, err.message, executionId)
      throw err
    }
    if (joined) return
    if (!wanted()) {
      // Every request gets one reply: this one was overtaken by the socket's own unsubscribe.
      if (conn.open) conn.json({ type: 'ack', id: f.id, executionId, cancelled: true })
      return
    }
    if (found) return
    conn.subs.delete(executionId)
    return this.#reject(conn, f.id, 'not_found', `no execution "${executionId}"`, executionId)
  }

  #unsubscribe(conn: Connection, f: z.infer<typeof UnsubscribeFrame>): void {
    const slot = conn.subs.get(f.executionId)
    if (!slot) {
      this.#reject(conn, f.id, 'not_subscribed', `not subscribed to ${f.executionId}`, f.executionId)
      return
    }
    conn.subs.delete(f.executionId)
    slot.room?.unsubscribe(conn)
    conn.json({ type: 'ack', id: f.id, executionId: f.executionId, unsubscribed: true })
  }

  async #stop(conn: Connection, f: z.infer<typeof StopStreamFrame>): Promise<void> {
    if (!conn.principal?.canCommand(f.executionId)) {
      return this.#reject(conn, f.id, 'forbidden', 'stop_stream needs the admin role', f.executionId)
    }
    try {
      const outcome = await this.#deps.broker.command(f.executionId, { type: 'stop_stream', by: 'admin' })
      conn.json({ type: 'ack', id: f.id, executionId: f.executionId, ...outcome })
    } catch (err) {
      this.#commandError(conn, f.id, f.executionId, err)
    }
  }

  async #continue(conn: Connection, f: z.infer<typeof ContinueFrame>): Promise<void> {
    if (!conn.principal?.canCommand(f.executionId)) {
      return this.#reject(conn, f.id, 'forbidden', 'continue needs the admin role', f.executionId)
    }
    try {
      const outcome = await this.#deps.broker.command(f.executionId, {
        type: 'continue',
        interruptId: f.interruptId,
        value: f.value,
      })
      conn.json({ type: 'ack', id: f.id, executionId: f.executionId, interruptId: f.interruptId, ...outcome })
    } catch (err) {
      this.#commandError(conn, f.id, f.executionId, err)
    }
  }

  #commandError(conn: Connection, id: RequestId, executionId: string, err: unknown): void {
    if (isFlowcastError(err)) {
      this.#reject(conn, id, err.code, err.message, executionId)
      return
    }
    this.#deps.onError(err, 'ws command')
    this.#reject(conn, id, 'internal', 'internal error', executionId)
  }

  /** Closes a socket whose replies went past the high-water mark and the control overdraft. */
  #tooSlow(conn: Connection): void {
    this.#deps.metrics()?.slowCloses.inc()
    this.#deps.logger.warn(
      { connectionId: conn.id, address: conn.address, queued: conn.bufferedAmount },
      'ws closed: replies queued past the high-water mark (4008)',
    )
    conn.evict(CloseCode.tooSlow, 'too slow')
  }

  #rateLimited(conn: Connection, id: RequestId | undefined): void {
    this.#reject(conn, id, 'rate_limited', `at most ${this.#deps.limits.commandsPerSecond} frames per second`)
  }

  #reject(
    conn: Connection,
    id: RequestId | undefined,
    code: FlowcastErrorCode | string,
    message: string,
    executionId?: string,
  ): void {
    this.#deps.metrics()?.badFrames.inc()
    conn.json({
      type: 'error',
      ...(id === undefined ? {} : { id }),
      code,
      message,
      ...(executionId === undefined ? {} : { executionId }),
    })
  }
}

const STATUS_TEXT: Record<number, string> = {
  401: 'Unauthorized',
  403: 'Forbidden',
  404: 'Not Found',
  429: 'Too Many Requests',
  500: 'Internal Server Error',
  503: 'Service Unavailable',
}

/** Where a socket keeps its Connection, so that shared listeners can find it from `this`. */
const CONN = Symbol('flowcast.connection')
type Tagged = WebSocket & { [CONN]?: Connection }
/** Where an upgraded socket keeps the client address it is counted against, until it closes. */
const ADDRESS = Symbol('flowcast.address')
type HeldSocket = Duplex & { [ADDRESS]?: string }

function onPong(this: WebSocket): void {
  const conn = (this as Tagged)[CONN]
  if (conn) conn.alive = true
}

function ignoreError(): void {
  // ws closes the socket itself after an error (1009 for a frame over maxPayload).
}

function destroySelf(this: Duplex): void {
  this.destroy()
}

function refuse(socket: Duplex, status: number): void {
  const text = STATUS_TEXT[status] ?? 'Forbidden'
  socket.end(`HTTP/1.1 ${status} ${text}\r\nConnection: close\r\nContent-Length: 0\r\n\r\n`)
}

function isRequestId(v: unknown): v is RequestId {
  return (typeof v === 'string' && v.length <= 64) || (typeof v === 'number' && Number.isSafeInteger(v))
}

/**
 * `{"type":"<name>","id":<id>` at the very start of a frame, as every client (JSON.stringify of
 * `{ type, id, ... }`) writes it: enough to route a rate_limited reply without parsing the frame.
 * Anything else (other key order, escapes in the id) gets a reply without an id.
 */
const LEADING_ID = /^\{"type":"[a-z_]{1,32}","id":(?:"([^"\\]{0,64})"|(-?\d{1,16}))[,}]/

/** The request id at the start of `data` (see LEADING_ID), reading at most its first 128 bytes. */
function leadingId(data: Buffer): RequestId | undefined {
  const m = LEADING_ID.exec(data.toString('utf8', 0, Math.min(data.length, 128)))
  if (!m) return undefined
  if (m[1] !== undefined) return m[1]
  const n = Number(m[2])
  return Number.isSafeInteger(n) ? n : undefined
}

/** Keeps error messages small whatever the client sent. */
function clip(text: string, max = 200): string {
  return text.length <= max ? text : `${text.slice(0, max)}...`
}

/** The `auth` frame in `data`, or undefined when it is anything else. */
function parseAuthFrame(data: Buffer): z.infer<typeof AuthFrame> | undefined {
  try {
    const parsed = AuthFrame.safeParse(JSON.parse(data.toString('utf8')))
    return parsed.success ? parsed.data : undefined
  } catch {
    return undefined
  }
}
