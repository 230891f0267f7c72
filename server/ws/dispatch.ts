/**
 * Dispatch per frame type: what an authenticated socket's valid frame does — subscribe and
 * unsubscribe through the rooms, stop_stream, cancel and continue through the broker, ping, auth. Every
 * request gets exactly one reply (an ack, a `subscribed`, a pong or an error).
 */
import {
  type CancelFrame,
  type ClientFrame,
  type ContinueFrame,
  isFlowcastError,
  type StopStreamFrame,
  type SubscribeFrame,
  type UnsubscribeFrame,
} from '@flowcast/protocol'
import type { z } from 'zod'
import type { AccessResolver, Principal } from '../auth/access.ts'
import { isExpiredRefusal } from '../auth/tokens.ts'
import type { Broker } from '../brokers/broker.ts'
import type { Rooms } from '../fanout/rooms.ts'
import type { ServerLimits } from '../options.ts'
import type { Connection, RequestId } from './connection.ts'

export interface DispatchDeps {
  broker: Broker
  rooms: Rooms
  access: AccessResolver
  limits: ServerLimits
  onError: (err: unknown, context: string) => void
}

/** Runs valid client frames. */
export class Dispatch {
  readonly #deps: DispatchDeps

  constructor(deps: DispatchDeps) {
    this.#deps = deps
  }

  /** Runs one frame of an authenticated socket. */
  async frame(conn: Connection, frame: ClientFrame): Promise<void> {
    switch (frame.type) {
      case 'subscribe':
        return this.#subscribe(conn, frame)
      case 'unsubscribe':
        return this.#unsubscribe(conn, frame)
      case 'stop_stream':
      case 'cancel':
        return this.#adminCommand(conn, frame)
      case 'continue':
        return this.#continue(conn, frame)
      case 'ping':
        return conn.json({ type: 'pong', id: frame.id })
      case 'auth':
        if (this.#deps.access.enabled) {
          // A socket authenticates once; its rights do not change while it is open.
          return conn.reject(frame.id, 'invalid_state', 'this socket is already authenticated')
        }
        // Auth is off: the socket already may do everything; acknowledge so clients can send it blindly.
        if (frame.id !== undefined) conn.json({ type: 'ack', id: frame.id, authenticated: true })
        return
    }
  }

  async #subscribe(conn: Connection, f: z.infer<typeof SubscribeFrame>): Promise<void> {
    const { executionId } = f
    const principal = f.token === undefined ? conn.principal : await this.#frameToken(conn, f, f.token)
    if (!principal || !conn.open) return
    // Checked after the frame's token: the socket may have subscribed meanwhile.
    const { maxSubscriptions } = this.#deps.limits
    if (conn.subs.has(executionId)) {
      return conn.reject(f.id, 'already_subscribed', `already subscribed to ${executionId}`, executionId)
    }
    if (conn.subs.size >= maxSubscriptions) {
      return conn.reject(
        f.id,
        'too_many_subscriptions',
        `at most ${maxSubscriptions} subscriptions per socket`,
        executionId,
      )
    }
    if (!principal.canRead(executionId)) {
      return conn.reject(f.id, 'forbidden', `no read access to ${executionId}`, executionId)
    }
    if (!principal.isCurrent()) return this.#expired(conn, f.id, executionId)
    const sub = conn.hold(executionId, principal)
    // Unsubscribed (or closed, or expired) while the room opened: the subscription is no longer this request's.
    const wanted = () => conn.subs.get(executionId) === sub && conn.open
    let found: boolean | undefined
    let joined = false
    try {
      found = await this.#deps.rooms.enter(
        executionId,
        (room) => {
          if (!wanted()) return true
          room.subscribe(conn, f.since ?? 0, (info) =>
            conn.json({ type: 'subscribed', id: f.id, executionId, ...info }),
          )
          sub.room = room
          joined = true
          return true
        },
        f.since ?? 0,
      )
    } catch (err) {
      // A broker may fail to open a room (its store is away), or `since` is out of range: this
      // subscription is told, and freed.
      conn.release(executionId, sub)
      if (isFlowcastError(err)) return conn.reject(f.id, err.code, err.message, executionId)
      throw err
    }
    if (joined) return
    if (!wanted()) {
      // Every request gets one reply: this one was overtaken by the socket's own unsubscribe.
      if (conn.open) conn.json({ type: 'ack', id: f.id, executionId, cancelled: true })
      return
    }
    if (found) return
    conn.release(executionId, sub)
    return conn.reject(f.id, 'not_found', `no execution "${executionId}"`, executionId)
  }

  /**
   * The principal of a frame's own token; undefined once the frame was answered with
   * `token_expired` (a token that ran out) or `unauthorized` (one that never was valid).
   */
  async #frameToken(
    conn: Connection,
    f: { id: RequestId; executionId: string },
    token: string,
  ): Promise<Principal | undefined> {
    try {
      return await this.#deps.access.fromToken(token)
    } catch (err) {
      if (isExpiredRefusal(err)) this.#expired(conn, f.id, f.executionId)
      else if (isFlowcastError(err, 'unauthorized'))
        conn.reject(f.id, 'unauthorized', err.message, f.executionId)
      else throw err
      return undefined
    }
  }

  #expired(conn: Connection, id: RequestId, executionId: string): void {
    conn.reject(id, 'token_expired', 'the token expired: send a fresh one', executionId)
  }

  /**
   * True when the command may run; otherwise it was answered. The frame's own token decides when it
   * has one; else the token of the socket's subscription of that execution or the socket's own.
   */
  async #mayCommand(
    conn: Connection,
    f: { id: RequestId; executionId: string; type: string; token?: string | undefined },
  ): Promise<boolean> {
    const { executionId } = f
    const candidates: (Principal | undefined)[] = []
    if (f.token !== undefined) {
      const principal = await this.#frameToken(conn, f, f.token)
      if (!principal) return false
      candidates.push(principal)
    } else candidates.push(conn.subs.get(executionId)?.principal, conn.principal)
    const now = Date.now()
    let expired = false
    for (const p of candidates) {
      if (!p?.canCommand(executionId)) continue
      if (p.isCurrent(now)) return true
      expired = true
    }
    if (expired) this.#expired(conn, f.id, executionId)
    else conn.reject(f.id, 'forbidden', `${f.type} needs the admin role`, executionId)
    return false
  }

  #unsubscribe(conn: Connection, f: z.infer<typeof UnsubscribeFrame>): void {
    if (!conn.release(f.executionId)) {
      conn.reject(f.id, 'not_subscribed', `not subscribed to ${f.executionId}`, f.executionId)
      return
    }
    conn.json({ type: 'ack', id: f.id, executionId: f.executionId, unsubscribed: true })
  }

  /** stop_stream and cancel: an admin command with no arguments, acknowledged with the broker's outcome. */
  async #adminCommand(
    conn: Connection,
    f: z.infer<typeof StopStreamFrame> | z.infer<typeof CancelFrame>,
  ): Promise<void> {
    if (!(await this.#mayCommand(conn, f))) return
    try {
      const outcome = await this.#deps.broker.command(f.executionId, { type: f.type, by: 'admin' })
      conn.json({ type: 'ack', id: f.id, executionId: f.executionId, ...outcome })
    } catch (err) {
      this.#commandError(conn, f.id, f.executionId, err)
    }
  }

  async #continue(conn: Connection, f: z.infer<typeof ContinueFrame>): Promise<void> {
    if (!(await this.#mayCommand(conn, f))) return
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
      conn.reject(id, err.code, err.message, executionId)
      return
    }
    this.#deps.onError(err, 'ws command')
    conn.reject(id, 'internal', 'internal error', executionId)
  }
}
