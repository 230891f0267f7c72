/**
 * The upgrade gate in front of every socket, in order: path and shutdown (404, 503), Origin
 * (403), connections per address (429), `?token=` (401). A refused handshake gets a bare HTTP
 * answer with the standard status text; nothing of the request is echoed.
 */
import { type IncomingMessage, STATUS_CODES } from 'node:http'
import type { Duplex } from 'node:stream'
import { isFlowcastError } from '@flowcast/protocol'
import type { Logger } from 'pino'
import type { WebSocket, WebSocketServer } from 'ws'
import type { AddressSlots } from '../address-slots.ts'
import type { AccessResolver, Principal } from '../auth/access.ts'
import { redactUrl } from '../log.ts'
import type { ServerMetrics } from '../metrics.ts'

export interface GateDeps {
  wss: WebSocketServer
  /** The per-address cap, shared with the SSE route. */
  addresses: AddressSlots
  access: AccessResolver
  /** `'*'` or the exact origins (scheme://host[:port]) allowed to open sockets. */
  allowedOrigins: '*' | string[]
  metrics: () => ServerMetrics | undefined
  logger: Logger
  onError: (err: unknown, context: string) => void
  /** A refused credential, for the auth-failure metric and log. */
  onAuthFailed: (transport: 'upgrade', reason: string, address: string) => void
  /**
   * The handshake passed: the socket is open and counted against `address`, and the callee gives
   * that slot back (`addresses.release`) when the WebSocket closes. Called while the socket is
   * corked with the 101 response: what it sends goes out in the same write.
   */
  onAccept: (ws: WebSocket, principal: Principal | undefined, address: string) => void
}

/** Where an upgraded socket keeps the client address it is counted against, until it closes. */
const ADDRESS = Symbol('flowcast.address')
type CountedSocket = Duplex & { [ADDRESS]?: string }

/** Checks every upgrade at /ws and hands the accepted ones on. */
export class UpgradeGate {
  readonly #deps: GateDeps
  readonly #origins: Set<string> | undefined
  // One listener for every socket (the socket is `this`): per-socket closures would cost each
  // idle subscriber a few hundred bytes.
  readonly #onSocketClose: (this: Duplex) => void
  #closing = false

  constructor(deps: GateDeps) {
    this.#deps = deps
    this.#origins = deps.allowedOrigins === '*' ? undefined : new Set(deps.allowedOrigins)
    const gate = this
    this.#onSocketClose = function () {
      gate.#release(this)
    }
  }

  /** From now on every upgrade answers 503 (server shutdown). */
  close(): void {
    this.#closing = true
  }

  /** The Node server's `upgrade` handler. */
  handle(req: IncomingMessage, socket: Duplex, head: Buffer): void {
    const { logger } = this.#deps
    if (this.#closing || !isWsPath(req.url)) {
      abortHandshake(socket, this.#closing ? 503 : 404)
      return
    }
    const origin = req.headers.origin
    if (origin !== undefined && this.#origins && !this.#origins.has(origin)) {
      this.#refused('origin')
      logger.info({ origin, url: redactUrl(req.url) }, 'ws upgrade refused: origin not allowed')
      abortHandshake(socket, 403)
      return
    }
    const address = req.socket.remoteAddress ?? 'unknown'
    // Counted from now, so that upgrades racing through the token check cannot overshoot the cap.
    if (!this.#deps.addresses.take(address)) {
      this.#refused('per_address')
      logger.warn({ address }, 'ws upgrade refused: too many connections from one address')
      abortHandshake(socket, 429)
      return
    }
    let principal: Principal | undefined
    try {
      principal = this.#deps.access.fromUpgrade(req)
    } catch (err) {
      this.#deps.addresses.release(address)
      const unauthorized = isFlowcastError(err, 'unauthorized')
      if (unauthorized) this.#deps.onAuthFailed('upgrade', err.message, address)
      else this.#deps.onError(err, 'ws upgrade')
      abortHandshake(socket, unauthorized ? 401 : 500)
      return
    }
    // ws writes the 101 response in a write of its own and onAccept's hello follows in another:
    // two syscalls per socket, the largest self time of a connect's profile (writeUtf8String
    // 32-51 µs beside writev 22-33). Corked, the uncork sends both in one writev; everything in
    // between (ws's completeUpgrade, onAccept) is synchronous, and a refusal's end() uncorks.
    let accepted = false
    socket.cork()
    // ws's handleUpgrade puts its own 'error' listener on the socket first thing, and the
    // WebSocket's after it: an accepted socket needs none of ours.
    // ws calls back synchronously (no verifyClient) or not at all.
    this.#deps.wss.handleUpgrade(req, socket, head, (ws) => {
      accepted = true
      // The slot goes with the socket: onAccept gives it back when the WebSocket closes.
      this.#deps.onAccept(ws, principal, address)
    })
    socket.uncork()
    // ws refused the handshake (its own 4xx) or the client had gone: counted until the socket closes.
    if (!accepted) this.#hold(address, socket)
  }

  /**
   * Counts `socket` against `address` until it closes. The address is
   * tagged on the socket and one shared listener releases it: a closure per socket (and the
   * wrapper `once` adds) would keep handle()'s scope, the upgrade request with its headers and
   * head buffer, alive for the socket's whole life. Only sockets that ws did not accept at once
   * need it (every accepted WebSocket gives its slot back itself, see onAccept).
   */
  #hold(address: string, socket: Duplex): void {
    ;(socket as CountedSocket)[ADDRESS] = address
    socket.on('close', this.#onSocketClose)
  }

  #release(socket: Duplex): void {
    const address = (socket as CountedSocket)[ADDRESS]
    if (address === undefined) return
    ;(socket as CountedSocket)[ADDRESS] = undefined
    this.#deps.addresses.release(address)
  }

  #refused(reason: string): void {
    this.#deps.metrics()?.connectionsRefused.inc({ reason })
  }
}

/** True when `url` is `/ws`, with or without a query. */
function isWsPath(url: string | undefined): boolean {
  // 63 is '?'
  return url?.startsWith('/ws') === true && (url.length === 3 || url.charCodeAt(3) === 63)
}

/**
 * Refuses a handshake with `status` and its standard text, then closes the socket. Node took its
 * own 'error' listener off the socket when it emitted 'upgrade': a client gone meanwhile (EPIPE,
 * ECONNRESET) must end the socket, not the process.
 */
function abortHandshake(socket: Duplex, status: number): void {
  socket.on('error', destroySelf)
  socket.end(
    `HTTP/1.1 ${status} ${STATUS_CODES[status] ?? ''}\r\nConnection: close\r\nContent-Length: 0\r\n\r\n`,
  )
}

function destroySelf(this: Duplex): void {
  this.destroy()
}
