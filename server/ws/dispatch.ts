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
import type { AccessResolver } from '../auth/access.ts'
import type { Broker } from '../brokers/broker.ts'
import type { Rooms } from '../fanout/rooms.ts'
import type { ServerLimits } from '../options.ts'
import type { Connection, RequestId, Subscription } from './connection.ts'

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
    if (!conn.principal?.canRead(executionId)) {
      return conn.reject(f.id, 'forbidden', `no read access to ${executionId}`, executionId)
    }
    const sub: Subscription = { room: undefined }
    conn.subs.set(executionId, sub)
    // Unsubscribed (or closed) while the room opened: the subscription is no longer this request's.
    const wanted = () => conn.subs.get(executionId) === sub && conn.open
    let found: boolean | undefined
    let joined = false
    try {
      found = await this.#deps.rooms.enter(executionId, (room) => {
        if (!wanted()) return true
        room.subscribe(conn, f.since ?? 0, (info) =>
          conn.json({ type: 'subscribed', id: f.id, executionId, ...info }),
        )
        sub.room = room
        joined = true
        return true
      })
    } catch (err) {
      // A broker may fail to open a room (its store is away), or `since` is out of range: this
      // subscription is told, and freed.
      if (conn.subs.get(executionId) === sub) conn.subs.delete(executionId)
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
    conn.subs.delete(executionId)
    return conn.reject(f.id, 'not_found', `no execution "${executionId}"`, executionId)
  }

  #unsubscribe(conn: Connection, f: z.infer<typeof UnsubscribeFrame>): void {
    const sub = conn.subs.get(f.executionId)
    if (!sub) {
      conn.reject(f.id, 'not_subscribed', `not subscribed to ${f.executionId}`, f.executionId)
      return
    }
    conn.subs.delete(f.executionId)
    sub.room?.unsubscribe(conn)
    conn.json({ type: 'ack', id: f.id, executionId: f.executionId, unsubscribed: true })
  }

  /** stop_stream and cancel: an admin command with no arguments, acknowledged with the broker's outcome. */
  async #adminCommand(
    conn: Connection,
    f: z.infer<typeof StopStreamFrame> | z.infer<typeof CancelFrame>,
  ): Promise<void> {
    if (!conn.principal?.canCommand(f.executionId)) {
      return conn.reject(f.id, 'forbidden', `${f.type} needs the admin role`, f.executionId)
    }
    try {
      const outcome = await this.#deps.broker.command(f.executionId, { type: f.type, by: 'admin' })
      conn.json({ type: 'ack', id: f.id, executionId: f.executionId, ...outcome })
    } catch (err) {
      this.#commandError(conn, f.id, f.executionId, err)
    }
  }

  async #continue(conn: Connection, f: z.infer<typeof ContinueFrame>): Promise<void> {
    if (!conn.principal?.canCommand(f.executionId)) {
      return conn.reject(f.id, 'forbidden', 'continue needs the admin role', f.executionId)
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
      conn.reject(id, err.code, err.message, executionId)
      return
    }
    this.#deps.onError(err, 'ws command')
    conn.reject(id, 'internal', 'internal error', executionId)
  }
}
