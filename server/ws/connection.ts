/**
 * One WebSocket connection as the rest of the server sees it: a room Peer (frames out through
 * the shared pre-built bytes), control replies with their overdraft past the high-water mark,
 * its subscriptions, its rate limit, its auth state and its liveness.
 */
import type { FlowcastErrorCode } from '@flowcast/protocol'
import { nanoid } from 'nanoid'
import type { WebSocket } from 'ws'
import type { Principal } from '../auth/access.ts'
import type { ExpiryWheel } from '../auth/expiry.ts'
import type { OutFrame } from '../fanout/frame.ts'
import type { Peer } from '../fanout/member.ts'
import type { Room } from '../fanout/room.ts'
import type { ServerMetrics } from '../metrics.ts'
import type { ServerLimits } from '../options.ts'
import { OPEN, sendFrame } from './framing.ts'
import { TokenBucket } from './token-bucket.ts'

/** A client's request id, echoed in the reply. */
export type RequestId = string | number

/** A subscription of one socket: pending while its room opens (`room` undefined), then the room. */
export interface Subscription {
  room: Room | undefined
  readonly conn: Connection
  readonly executionId: string
  /** Who authorised it: the subscribe frame's own token, or else the socket's credential. */
  readonly principal: Principal
  /** Its key in the expiry wheel while it waits there (its principal expires). */
  expiryKey: number | undefined
}

/** Outbound bytes queued on sockets, as far as the server can see them (metrics, tests). */
export class QueueStats {
  /** The most bytes ever found queued on one socket right after a send. */
  peak = 0
}

/** What every Connection of one hub shares: one object, so that each socket pays for a pointer. */
export interface ConnContext {
  readonly stats: QueueStats
  readonly limits: ServerLimits
  readonly metrics: () => ServerMetrics | undefined
  readonly onTooSlow: (conn: Connection) => void
  /** Ends subscriptions whose principal runs out (the hub's, one for every socket). */
  readonly expiry: ExpiryWheel<Subscription>
}

/** How long an evicted socket gets to finish the close handshake before it is terminated. */
const EVICT_GRACE_MS = 1000

/**
 * Log lines one connection may cause per window: whatever a client makes the server log, it
 * cannot turn into a flood of log lines (the rest of the window's are dropped).
 */
export const LOG_LINES_PER_CONNECTION = 10
const LOG_WINDOW_MS = 10_000

/** Where a socket keeps its Connection, so that shared listeners can find it from `this`. */
const CONN = Symbol('flowcast.connection')
type WithConnection = WebSocket & { [CONN]?: Connection }

/** The Connection of `ws`, for listeners shared by every socket (the socket is their `this`). */
export function connectionOf(ws: WebSocket): Connection | undefined {
  return (ws as WithConnection)[CONN]
}

/** One accepted WebSocket. */
export class Connection implements Peer {
  readonly id = nanoid(12)
  readonly subs = new Map<string, Subscription>()
  /** Set by a pong only: frames the client sends prove nothing about whether it reads. */
  alive = true
  /** The payload of the last heartbeat ping, which its pong must echo. */
  pingPayload: Buffer | undefined = undefined
  /** Bytes of control replies sent while the queue was above the high-water mark since it was last below. */
  overdraft = 0
  readonly bucket: TokenBucket
  /** Undefined until an `auth` frame succeeds (auth on, no `?token=`). */
  principal: Principal | undefined
  /** Frames that arrived while the `auth` frame was being checked, handled in order after it. */
  backlog: { data: Buffer; isBinary: boolean }[] | undefined
  authTimer: ReturnType<typeof setTimeout> | undefined
  #logWindowStart = 0
  #logLines = 0

  constructor(
    readonly ws: WebSocket,
    principal: Principal | undefined,
    readonly address: string,
    readonly ctx: ConnContext,
  ) {
    this.principal = principal
    const { commandsPerSecond, rateLimitWindowMs } = ctx.limits
    this.bucket = new TokenBucket(commandsPerSecond, commandsPerSecond, undefined, rateLimitWindowMs)
    ;(ws as WithConnection)[CONN] = this
  }

  get bufferedAmount(): number {
    return this.ws.bufferedAmount
  }

  get open(): boolean {
    return this.ws.readyState === this.ws.OPEN
  }

  send(frame: OutFrame): void {
    if (!this.open) return
    sendFrame(this.ws, frame)
    this.#observe()
  }

  offer(frame: OutFrame, highWaterMark: number): boolean {
    const ws = this.ws
    if (ws.readyState !== OPEN || ws.bufferedAmount > highWaterMark) return false
    sendFrame(ws, frame)
    this.#observe()
    return true
  }

  /**
   * Sends a control frame (hello, subscribed, ack, error, pong): per-socket JSON is fine off the hot
   * path. Replies cannot wait for a drain as events do, so past the high-water mark they draw on
   * `controlOverdraftBytes`; the reply that would exceed it closes the socket with 4008 instead.
   */
  json(value: unknown): void {
    if (this.open) this.text(JSON.stringify(value))
  }

  /** Sends a control frame already encoded as JSON text, under the same overdraft rule as json(). */
  text(text: string): void {
    if (!this.open) return
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

  /**
   * Sends a frame while the socket is corked (the hello behind the 101 response, see gate.ts): it
   * waits in the socket's buffer for the write that follows at once, which is no queue for the
   * overdraft rule or the queue stats (a fresh socket's first write never is).
   */
  sendCorked(text: string): void {
    this.ws.send(text)
  }

  /** Registers a subscription of `executionId` under `principal`, ended when it expires. */
  hold(executionId: string, principal: Principal): Subscription {
    const sub: Subscription = { room: undefined, conn: this, executionId, principal, expiryKey: undefined }
    this.subs.set(executionId, sub)
    if (principal.exp !== undefined) sub.expiryKey = this.ctx.expiry.add(sub, principal.exp)
    return sub
  }

  /**
   * Forgets the subscription of `executionId` (only `sub`, when given) and leaves its room unless
   * the room let go first; returns it, or undefined when there was none.
   */
  release(executionId: string, sub?: Subscription, leaveRoom = true): Subscription | undefined {
    const held = this.subs.get(executionId)
    if (!held || (sub && held !== sub)) return undefined
    this.subs.delete(executionId)
    if (held.expiryKey !== undefined) this.ctx.expiry.delete(held, held.expiryKey)
    held.expiryKey = undefined
    if (leaveRoom) held.room?.unsubscribe(this)
    return held
  }

  /** Every subscription released (the socket closed). */
  releaseAll(): void {
    for (const executionId of [...this.subs.keys()]) this.release(executionId)
  }

  /** The room of `executionId` released this socket (the execution was evicted). */
  onReleased(executionId: string): void {
    this.release(executionId, undefined, false)
  }

  /** Answers a request with an `error` frame (the socket stays open) and counts it. */
  reject(id: RequestId | undefined, code: FlowcastErrorCode, message: string, executionId?: string): void {
    this.ctx.metrics()?.badFrames.inc()
    this.json({
      type: 'error',
      ...(id === undefined ? {} : { id }),
      code,
      message,
      ...(executionId === undefined ? {} : { executionId }),
    })
  }

  /** True when this connection may cause one more log line now (see LOG_LINES_PER_CONNECTION). */
  mayLog(): boolean {
    const now = Date.now()
    if (now - this.#logWindowStart >= LOG_WINDOW_MS) {
      this.#logWindowStart = now
      this.#logLines = 0
    }
    return ++this.#logLines <= LOG_LINES_PER_CONNECTION
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
