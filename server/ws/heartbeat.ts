/**
 * Liveness: the server pings every socket each `heartbeatMs`; a socket that has not answered the
 * previous ping with a pong is terminated. Only the pong of that ping counts (it must echo the
 * ping's random payload): frames a client sends, unsolicited pongs included, prove nothing about
 * whether it reads what the server sends.
 *
 * The beat is spread over its interval: sockets are dealt round-robin into slices and one slice is
 * visited per tick (about every HEARTBEAT_TICK_MS), so no beat walks every socket in one
 * synchronous loop (that loop stalled the event loop for 130-320 ms at 10-19k sockets). Each socket
 * is still visited once per interval. The timer sleeps through slices that hold nobody: with fewer
 * sockets than slices (6,000 at the 30 s default) most 5 ms ticks found theirs empty, and a single
 * socket kept an idle server waking 192-195 times a second for 17-20 ms of CPU per second.
 * A ping costs the server 20 µs of CPU on a quiet machine (a frame and a write syscall, which on
 * loopback also runs the receiving side's TCP work) and 60-120 µs on a busy one, more in a bad
 * moment, so the tick is short enough that 20,000 sockets at a 5 s interval make at most 20 pings
 * per tick. The longest tick at 19,488 sockets, in the main
 * thread's own CPU: at 10 ms ticks (40 pings) 2.1-4.7 ms in nine rounds (three under the profiler)
 * and 11.6 ms in one; at 20 ms (80 pings) 5.2-8.0 ms of process CPU; at 100 ms (400 pings) 10 ms.
 * At 5 ms ticks one tick in ~3,000 still took 5-16 ms on a loaded machine, so a tick also stops at a
 * wall-time budget (HEARTBEAT_TICK_BUDGET_MS) and the next tick finishes its slice.
 *
 * Ping frames are built ahead, FRAMES_PER_DRAW at a time, with their random payloads from one
 * `randomFillSync`: a call into the CSPRNG costs ~5-7 µs whatever its size, and with fewer sockets
 * than slices (a slice of one, 6,000 slices at the 30 s default) one call per tick was one per ping.
 * Each frame goes out as one write when ws's Sender is idle (framing.ts), else through `ws.ping`.
 */
import { randomFillSync } from 'node:crypto'
import type { WebSocket } from 'ws'
import { connectionOf } from './connection.ts'
import { PING_FRAME_BYTES, PING_PAYLOAD_BYTES, sendPingFrame, writePingHeader } from './framing.ts'

/** What the heartbeat needs of a connection. */
export interface Beating {
  /** Set by the pong listener; cleared when a ping goes out. */
  alive: boolean
  /** The payload of the last ping, which its pong must echo. */
  pingPayload?: Buffer | undefined
  readonly ws: { ping(data?: Buffer): void; terminate(): void }
}

/** Ping frames built per draw of random bytes (10 bytes each: 5 KiB per draw). */
export const FRAMES_PER_DRAW = 512

/** Whole ping frames with fresh random payloads, handed out one by one. */
class PingFrames {
  #pool: Buffer = Buffer.alloc(0)
  #at = 0

  /** The next frame (a view of PING_FRAME_BYTES); its payload is the view after the 2-byte header. */
  next(): Buffer {
    if (this.#at === this.#pool.length) {
      // A new Buffer per draw, never refilled: frames handed out earlier keep the payload their
      // pongs must echo.
      const pool = randomFillSync(Buffer.allocUnsafe(PING_FRAME_BYTES * FRAMES_PER_DRAW))
      for (let at = 0; at < pool.length; at += PING_FRAME_BYTES) writePingHeader(pool, at)
      this.#pool = pool
      this.#at = 0
    }
    const frame = this.#pool.subarray(this.#at, this.#at + PING_FRAME_BYTES)
    this.#at += PING_FRAME_BYTES
    return frame
  }
}

/** Longest gap between two ticks (ms); the interval is cut into slices of about this length. */
export const HEARTBEAT_TICK_MS = 5

/**
 * Wall time (ms) a tick may spend pinging before it yields the loop; the next tick carries on where
 * it stopped. On a loaded machine a ping's write can cost 10-40x its quiet 20 µs (the loopback
 * receiver's TCP work runs in the sender's syscall), and a fixed slice then stalled the loop for
 * 5-16 ms in about one tick in 3,000 at 19,488 sockets. Wall time, not CPU: it is cheap to read
 * and never less than the thread's CPU time, so a tick's stall is at most this plus one ping.
 */
export const HEARTBEAT_TICK_BUDGET_MS = 2

/** Pings every member once per `intervalMs`, one slice per tick. */
export class Heartbeat<T extends Beating = Beating> {
  readonly #slices: Set<T>[]
  readonly #sliceOf = new Map<T, Set<T>>()
  readonly #tickMs: number
  // Set only while a member is watched: an idle server does not wake every tick for nothing.
  #timer: ReturnType<typeof setTimeout> | undefined
  /** Empty slices the pending wake passes over before the one it visits, and when it fires. */
  #skip = 0
  #wakeAt = 0
  readonly #frames = new PingFrames()
  #next = 0
  #dealt = 0
  /** The slice a tick stopped inside (at its budget), which the next tick finishes first. */
  #cursor: Iterator<T> | undefined
  readonly #now: () => number
  readonly #budgetMs: number

  /** `now` and `budgetMs` are the clock and the per-tick budget (tests replace them). */
  constructor(
    intervalMs: number,
    tickMs = HEARTBEAT_TICK_MS,
    now: () => number = () => performance.now(),
    budgetMs = HEARTBEAT_TICK_BUDGET_MS,
  ) {
    const count = Math.max(1, Math.round(intervalMs / Math.max(1, tickMs)))
    this.#slices = Array.from({ length: count }, () => new Set<T>())
    this.#tickMs = intervalMs / count
    this.#now = now
    this.#budgetMs = budgetMs
  }

  /** How many slices the interval is cut into (one is visited per tick). */
  get slices(): number {
    return this.#slices.length
  }

  /** Members being watched. */
  get size(): number {
    return this.#sliceOf.size
  }

  /** Watches `member`; its first ping comes within one interval. */
  add(member: T): void {
    if (this.#sliceOf.has(member)) return
    // Round-robin keeps the slices even as sockets come; leaving sockets thin them evenly enough.
    const index = this.#dealt++ % this.#slices.length
    const slice = this.#slices[index]!
    slice.add(member)
    this.#sliceOf.set(member, slice)
    if (this.#timer === undefined) {
      this.#arm(0, this.#tickMs)
      return
    }
    // The pending wake would sleep through this member's slice: when that slice's turn is still to
    // come, wake then instead. A turn already passed (the slice was empty then) comes again within
    // one interval, and the wake after the pending one stops at it, the slice being no longer empty.
    const ahead = (index - this.#next + this.#slices.length) % this.#slices.length
    if (this.#cursor !== undefined || ahead >= this.#skip) return
    const turnIn = this.#wakeAt - (this.#skip - ahead) * this.#tickMs - this.#now()
    if (turnIn < 0) return
    clearTimeout(this.#timer)
    this.#arm(ahead, turnIn)
  }

  /** Stops watching `member`. */
  delete(member: T): void {
    this.#sliceOf.get(member)?.delete(member)
    this.#sliceOf.delete(member)
    if (this.#sliceOf.size === 0) this.#halt()
  }

  /**
   * Visits the next slice (the timer calls this; tests may too) until the budget is spent; a slice
   * left half-visited is finished by the next tick before any other. There is no catching up: on a
   * machine too slow to keep up the beat slips (sockets are pinged less often, their pings staying an
   * interval apart or more, give or take the ticks a slice was cut into) rather than the loop stalling.
   */
  tick(): void {
    if (this.#cursor === undefined) {
      const slice = this.#slices[this.#next]!
      this.#next = (this.#next + 1) % this.#slices.length
      if (slice.size === 0) return
      // A Set's iterator skips members deleted after it was made, so a slice can be left half-visited.
      this.#cursor = slice.values()
    }
    const slice = this.#cursor
    const deadline = this.#now() + this.#budgetMs
    for (let r = slice.next(); !r.done; r = slice.next()) {
      this.#visit(r.value)
      if (this.#now() > deadline) return
    }
    this.#cursor = undefined
  }

  /** Sets the next wake `delayMs` from now, `skip` empty slices on (they pass with the time). */
  #arm(skip: number, delayMs: number): void {
    const delay = Math.max(0, delayMs)
    this.#skip = skip
    this.#wakeAt = this.#now() + delay
    this.#timer = setTimeout(this.#wake, delay)
    this.#timer.unref()
  }

  /** The timer's callback: the slices slept through pass, the next is visited, the timer is set again. */
  readonly #wake = (): void => {
    this.#timer = undefined
    this.#next = (this.#next + this.#skip) % this.#slices.length
    this.#skip = 0
    this.tick()
    if (this.#timer !== undefined || this.#sliceOf.size === 0) return
    // A slice left half-visited is finished next tick; otherwise the empty slices ahead are slept through.
    let skip = 0
    const n = this.#slices.length
    if (this.#cursor === undefined)
      while (skip < n - 1 && this.#slices[(this.#next + skip) % n]!.size === 0) skip++
    this.#arm(skip, (skip + 1) * this.#tickMs)
  }

  #visit(member: T): void {
    if (!member.alive) {
      this.delete(member)
      member.ws.terminate()
      return
    }
    member.alive = false
    const frame = this.#frames.next()
    member.pingPayload = frame.subarray(PING_FRAME_BYTES - PING_PAYLOAD_BYTES)
    if (!sendPingFrame(member.ws as WebSocket, frame)) member.ws.ping(member.pingPayload)
  }

  /** Stops pinging; members are forgotten. */
  stop(): void {
    this.#halt()
    for (const slice of this.#slices) slice.clear()
    this.#sliceOf.clear()
  }

  #halt(): void {
    clearTimeout(this.#timer)
    this.#timer = undefined
    this.#skip = 0
    this.#cursor = undefined
  }
}

/** The `pong` listener of every socket (the socket is `this`). */
export function onPong(this: WebSocket, payload: Buffer): void {
  const conn = connectionOf(this)
  if (conn?.pingPayload && payload.equals(conn.pingPayload)) conn.alive = true
}
