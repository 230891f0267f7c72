/**
 * The WebSocket adapter: `ws` in noServer mode on the HTTP server's upgrade at /ws. It turns
 * sockets into room Peers, validates every inbound frame at the edge with the protocol's zod
 * schemas, answers with typed errors (the socket stays open), and runs the heartbeat.
 */
import type { IncomingMessage } from 'node:http'
import type { Duplex } from 'node:stream'
import { nanoid } from 'nanoid'
import { type WebSocket, WebSocketServer } from 'ws'
import type { z } from 'zod'
import {
  CLIENT_FRAME_TYPES,
  ClientFrame,
  CloseCode,
  type ContinueFrame,
  PROTOCOL_VERSION,
  type StopStreamFrame,
  type SubscribeFrame,
  type UnsubscribeFrame,
} from '../client-sdk/protocol.ts'
import { type FlowcastErrorCode, isFlowcastError } from '../errors.ts'
import type { AccessResolver, Principal } from './access.ts'
import type { Broker } from './broker.ts'
import type { ServerMetrics } from './metrics.ts'
import type { ServerLimits } from './options.ts'
import type { OutFrame, Peer, Room, Rooms } from './room.ts'

type RequestId = string | number

/** A subscription slot: pending while its room opens, then the room. */
type Slot = { room: Room | undefined }

class Connection implements Peer {
  readonly id = nanoid(12)
  readonly subs = new Map<string, Slot>()
  alive = true
  tokens: number
  lastRefill = Date.now()

  constructor(
    readonly ws: WebSocket,
    readonly principal: Principal,
    commandsPerSecond: number,
  ) {
    this.tokens = commandsPerSecond
  }

  get bufferedAmount(): number {
    return this.ws.bufferedAmount
  }

  get open(): boolean {
    return this.ws.readyState === this.ws.OPEN
  }

  send(frame: OutFrame): void {
    if (this.open) this.ws.send(frame.ws, { binary: false })
  }

  /** Sends a control frame (hello, subscribed, ack, error, pong): per-socket JSON is fine off the hot path. */
  json(value: unknown): void {
    if (this.open) this.ws.send(JSON.stringify(value))
  }

  close(code: number, reason: string): void {
    if (this.ws.readyState === this.ws.OPEN || this.ws.readyState === this.ws.CONNECTING)
      this.ws.close(code, reason)
  }
}

export interface HubDeps {
  broker: Broker
  rooms: Rooms
  access: AccessResolver
  limits: ServerLimits
  metrics: () => ServerMetrics | undefined
  onError: (err: unknown, context: string) => void
}

/** Every WebSocket connection of one server. */
export class WsHub {
  readonly #deps: HubDeps
  readonly #wss: WebSocketServer
  readonly #connections = new Set<Connection>()
  readonly #heartbeat: ReturnType<typeof setInterval>
  #closing = false

  constructor(deps: HubDeps) {
    this.#deps = deps
    this.#wss = new WebSocketServer({
      noServer: true,
      maxPayload: deps.limits.maxPayload,
      perMessageDeflate: false,
      clientTracking: false,
    })
    this.#heartbeat = setInterval(() => this.#beat(), deps.limits.heartbeatMs)
    this.#heartbeat.unref()
  }

  get connections(): number {
    return this.#connections.size
  }

  /** The Node server's `upgrade` handler. */
  handleUpgrade(req: IncomingMessage, socket: Duplex, head: Buffer): void {
    const path = (req.url ?? '/').split('?')[0]
    if (this.#closing || path !== '/ws') {
      refuse(socket, this.#closing ? 503 : 404)
      return
    }
    socket.on('error', () => socket.destroy())
    this.#deps.access.fromUpgrade(req).then(
      (principal) => {
        if (this.#closing || socket.destroyed) {
          socket.destroy()
          return
        }
        this.#wss.handleUpgrade(req, socket, head, (ws) => this.#accept(ws, principal))
      },
      (err) => refuse(socket, isFlowcastError(err, 'unauthorized') ? 401 : 403),
    )
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

  #accept(ws: WebSocket, principal: Principal): void {
    const { limits } = this.#deps
    const conn = new Connection(ws, principal, limits.commandsPerSecond)
    this.#connections.add(conn)
    ws.on('pong', () => {
      conn.alive = true
    })
    ws.on('message', (data, isBinary) => {
      conn.alive = true
      this.#onMessage(conn, data as Buffer, isBinary).catch((err) => {
        this.#deps.onError(err, 'ws message')
        conn.json({ type: 'error', code: 'internal', message: 'internal error' })
      })
    })
    ws.on('error', () => {
      // ws closes the socket itself after an error (1009 for a frame over maxPayload).
    })
    ws.on('close', () => this.#drop(conn))
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
    if (isBinary) return this.#reject(conn, undefined, 'bad_frame', 'binary frames are not supported')
    let raw: unknown
    try {
      raw = JSON.parse(data.toString('utf8'))
    } catch {
      return this.#reject(conn, undefined, 'bad_frame', 'malformed JSON')
    }
    if (typeof raw !== 'object' || raw === null || Array.isArray(raw)) {
      return this.#reject(conn, undefined, 'bad_frame', 'a frame must be a JSON object')
    }
    const obj = raw as Record<string, unknown>
    const id = typeof obj.id === 'string' || typeof obj.id === 'number' ? obj.id : undefined
    if (typeof obj.type !== 'string' || !(CLIENT_FRAME_TYPES as readonly string[]).includes(obj.type)) {
      return this.#reject(conn, id, 'unknown_type', `unknown frame type ${JSON.stringify(obj.type)}`)
    }
    if (!this.#take(conn)) return this.#reject(conn, id, 'rate_limited', 'too many commands per second')
    const parsed = ClientFrame.safeParse(raw)
    if (!parsed.success) {
      const issue = parsed.error.issues[0]
      const where = issue && issue.path.length > 0 ? issue.path.join('.') : '(frame)'
      return this.#reject(conn, id, 'bad_frame', `${obj.type}: ${where}: ${issue?.message ?? 'invalid'}`)
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
    if (!conn.principal.canRead(executionId)) {
      return this.#reject(conn, f.id, 'forbidden', `no read access to ${executionId}`, executionId)
    }
    const slot: Slot = { room: undefined }
    conn.subs.set(executionId, slot)
    const room = await this.#deps.rooms.acquire(executionId)
    if (conn.subs.get(executionId) !== slot || !conn.open) {
      // Unsubscribed or closed while the room opened.
      if (room) this.#deps.rooms.releaseIfEmpty(room)
      return
    }
    if (!room) {
      conn.subs.delete(executionId)
      return this.#reject(conn, f.id, 'not_found', `no execution "${executionId}"`, executionId)
    }
    try {
      room.subscribe(conn, f.since ?? 0, (info) =>
        conn.json({ type: 'subscribed', id: f.id, executionId, ...info }),
      )
      slot.room = room
    } catch (err) {
      conn.subs.delete(executionId)
      this.#deps.rooms.releaseIfEmpty(room)
      if (isFlowcastError(err)) return this.#reject(conn, f.id, err.code, err.message, executionId)
      throw err
    }
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
    if (!conn.principal.canCommand(f.executionId)) {
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
    if (!conn.principal.canCommand(f.executionId)) {
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

  /** Token bucket: refills `commandsPerSecond` per second up to one second's worth. */
  #take(conn: Connection): boolean {
    const rate = this.#deps.limits.commandsPerSecond
    const now = Date.now()
    conn.tokens = Math.min(rate, conn.tokens + ((now - conn.lastRefill) / 1000) * rate)
    conn.lastRefill = now
    if (conn.tokens < 1) return false
    conn.tokens -= 1
    return true
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

function refuse(socket: Duplex, status: number): void {
  const text =
    status === 401
      ? 'Unauthorized'
      : status === 404
        ? 'Not Found'
        : status === 503
          ? 'Service Unavailable'
          : 'Forbidden'
  socket.end(`HTTP/1.1 ${status} ${text}\r\nConnection: close\r\nContent-Length: 0\r\n\r\n`)
}
