/**
 * The WebSocket side of the server: `ws` in noServer mode behind the upgrade gate (gate.ts) at
 * /ws. It accepts sockets as Connections, runs the auth-frame handshake, takes every inbound
 * frame through the rate limit, decoding (decode.ts) and dispatch (dispatch.ts), and closes
 * every socket on shutdown.
 *
 * A socket without `?token=` on a server with auth on must send an `auth` frame first; anything
 * else, a bad token or silence past `authTimeoutMs` closes it with 4001.
 */
import type { IncomingMessage } from 'node:http'
import type { Duplex } from 'node:stream'
import { CloseCode, isFlowcastError, PROTOCOL_VERSION } from '@flowcast/protocol'
import type { Logger } from 'pino'
import { type WebSocket, WebSocketServer } from 'ws'
import type { AddressSlots } from '../address-slots.ts'
import type { AccessResolver, Principal } from '../auth/access.ts'
import { ExpiryWheel } from '../auth/expiry.ts'
import type { Broker } from '../brokers/broker.ts'
import type { Rooms } from '../fanout/rooms.ts'
import type { ServerMetrics } from '../metrics.ts'
import type { ServerLimits } from '../options.ts'
import { type ConnContext, Connection, connectionOf, QueueStats, type Subscription } from './connection.ts'
import { decodeAuthFrame, decodeFrame, leadingId } from './decode.ts'
import { Dispatch } from './dispatch.ts'
import { UpgradeGate } from './gate.ts'
import { Heartbeat, onPong } from './heartbeat.ts'

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
  readonly #gate: UpgradeGate
  readonly #dispatch: Dispatch
  readonly #connections = new Set<Connection>()
  readonly #heartbeat: Heartbeat<Connection>
  readonly #expiry = new ExpiryWheel<Subscription>((sub) => this.#expire(sub))
  readonly stats = new QueueStats()
  readonly #ctx: ConnContext
  // One listener of each kind for every socket (the socket is `this`, its Connection is tagged on
  // it): per-socket closures would cost each idle subscriber a few hundred bytes.
  readonly #onWsMessage: (this: WebSocket, data: Buffer, isBinary: boolean) => void
  readonly #onWsClose: (this: WebSocket, code: number) => void
  /** The hello frame's JSON around its connection id: only the id differs between sockets. */
  readonly #hello: [head: string, tail: string]

  constructor(deps: HubDeps) {
    this.#deps = deps
    this.#wss = new WebSocketServer({
      noServer: true,
      maxPayload: deps.limits.maxPayload,
      perMessageDeflate: false,
      clientTracking: false,
    })
    this.#gate = new UpgradeGate({
      wss: this.#wss,
      addresses: deps.addresses,
      access: deps.access,
      allowedOrigins: deps.allowedOrigins,
      metrics: deps.metrics,
      logger: deps.logger,
      onError: deps.onError,
      onAuthFailed: (transport, reason, address) => this.#authFailed(transport, reason, address),
      onAccept: (ws, principal, address) => this.#accept(ws, principal, address),
    })
    this.#dispatch = new Dispatch(deps)
    this.#ctx = {
      stats: this.stats,
      limits: deps.limits,
      metrics: deps.metrics,
      onTooSlow: (conn) => this.#tooSlow(conn),
      expiry: this.#expiry,
    }
    const hub = this
    this.#onWsMessage = function (data, isBinary) {
      const conn = connectionOf(this)
      if (!conn) return
      if (!conn.principal) hub.#preAuth(conn, data, isBinary)
      else hub.#handle(conn, data, isBinary)
    }
    this.#onWsClose = function (code) {
      const conn = connectionOf(this)
      if (!conn) return
      hub.#deps.logger.debug({ connectionId: conn.id, code }, 'ws closed')
      hub.#drop(conn)
    }
    this.#heartbeat = new Heartbeat<Connection>(deps.limits.heartbeatMs)
    this.#hello = helloAround(deps.limits)
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
    this.#gate.handle(req, socket, head)
  }

  /** Closes every socket with `code` (1001 going away, 1012 restarting) and stops the heartbeat. */
  async close(code: number = CloseCode.goingAway): Promise<void> {
    this.#gate.close()
    this.#heartbeat.stop()
    this.#expiry.stop()
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
    const conn = new Connection(ws, principal, address, this.#ctx)
    this.#connections.add(conn)
    this.#heartbeat.add(conn)
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
      }, this.#deps.limits.authTimeoutMs)
      return
    }
    this.#welcome(conn, true)
  }

  #handle(conn: Connection, data: Buffer, isBinary: boolean): void {
    this.#onMessage(conn, data, isBinary).catch((err) => {
      if (conn.mayLog()) this.#deps.onError(err, 'ws message')
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
    const frame = isBinary ? undefined : decodeAuthFrame(data)
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

  /** Sends the hello; `withUpgrade` while the gate holds it corked with the 101 response. */
  #welcome(conn: Connection, withUpgrade = false): void {
    const { logger } = this.#deps
    // Not even the fields object when debug is off: this runs once per accepted socket.
    if (logger.isLevelEnabled('debug'))
      logger.debug(
        {
          connectionId: conn.id,
          address: conn.address,
          role: conn.principal?.role,
          scope: conn.principal?.scope,
        },
        'ws open',
      )
    // Per-socket JSON.stringify of the same object was 16 µs of a connect's profile (2%).
    const hello = this.#hello[0] + JSON.stringify(conn.id) + this.#hello[1]
    if (withUpgrade) conn.sendCorked(hello)
    else conn.text(hello)
  }

  #drop(conn: Connection): void {
    if (conn.authTimer) clearTimeout(conn.authTimer)
    conn.authTimer = undefined
    conn.backlog = undefined
    this.#heartbeat.delete(conn)
    if (!this.#connections.delete(conn)) return
    // The gate counted the socket against its address until now (see onAccept in gate.ts).
    this.#deps.addresses.release(conn.address)
    conn.releaseAll()
  }

  async #onMessage(conn: Connection, data: Buffer, isBinary: boolean): Promise<void> {
    // Every inbound frame costs a token, the malformed ones too: they cost the server a reply.
    if (!conn.bucket.take()) {
      this.#deps.metrics()?.rateLimited.inc()
      const { rateLimitCloseAfter, rateLimitWindowMs, commandsPerSecond } = this.#deps.limits
      if (conn.bucket.refusals >= rateLimitCloseAfter) {
        if (conn.mayLog())
          this.#deps.logger.warn(
            {
              connectionId: conn.id,
              address: conn.address,
              refusals: conn.bucket.refusals,
              rateLimitWindowMs,
            },
            'ws closed: rate limited',
          )
        conn.evict(CloseCode.rateLimited, 'rate limited')
        return
      }
      // A refused frame costs no parse: the id is echoed only from the prefix every client writes.
      const id = isBinary ? undefined : leadingId(data)
      return conn.reject(id, 'rate_limited', `at most ${commandsPerSecond} frames per second`)
    }
    const decoded = decodeFrame(data, isBinary)
    if (!decoded.ok) return conn.reject(decoded.id, decoded.code, decoded.message)
    return this.#dispatch.frame(conn, decoded.frame)
  }

  /**
   * The token behind a subscription ran out while it was open: the subscription ends (released at
   * once, its room forgets the socket) and the socket is told with `token_expired`, which carries
   * no request id; the socket and its other subscriptions carry on.
   */
  #expire(sub: Subscription): void {
    const { conn, executionId } = sub
    sub.expiryKey = undefined
    if (!conn.release(executionId, sub)) return
    conn.json({
      type: 'error',
      code: 'token_expired',
      message: `the token of the subscription to ${executionId} expired`,
      executionId,
    })
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
}

/** The `hello` frame's JSON text before and after its connection id (the same for every socket). */
function helloAround(limits: ServerLimits): [head: string, tail: string] {
  const MARK = '\u0000id'
  const text = JSON.stringify({
    type: 'hello',
    protocol: PROTOCOL_VERSION,
    connectionId: MARK,
    heartbeatMs: limits.heartbeatMs,
    limits: {
      maxPayload: limits.maxPayload,
      maxSubscriptions: limits.maxSubscriptions,
      commandsPerSecond: limits.commandsPerSecond,
    },
  })
  const [head, tail] = text.split(JSON.stringify(MARK))
  return [head!, tail!]
}

function ignoreError(): void {
  // ws closes the socket itself after an error (1009 for a frame over maxPayload).
}
