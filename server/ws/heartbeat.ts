/**
 * Liveness: the server pings every socket each `heartbeatMs`; a socket that has not answered the
 * previous ping with a pong is terminated. Only a pong counts: frames a client sends prove nothing
 * about whether it reads what the server sends.
 */
import type { WebSocket } from 'ws'
import { type Connection, connectionOf } from './connection.ts'

/** Pings the connections of one hub on an interval. */
export class Heartbeat {
  readonly #timer: ReturnType<typeof setInterval>

  constructor(connections: ReadonlySet<Connection>, intervalMs: number) {
    this.#timer = setInterval(() => beat(connections), intervalMs)
    this.#timer.unref()
  }

  /** Stops pinging. */
  stop(): void {
    clearInterval(this.#timer)
  }
}

/** The `pong` listener of every socket (the socket is `this`). */
export function onPong(this: WebSocket): void {
  const conn = connectionOf(this)
  if (conn) conn.alive = true
}

function beat(connections: ReadonlySet<Connection>): void {
  for (const c of connections) {
    if (!c.alive) {
      c.ws.terminate()
      continue
    }
    c.alive = false
    c.ws.ping()
  }
}
