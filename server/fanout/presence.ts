/**
 * Presence for every room of one server, sent by one ticker with a budget per callback.
 *
 * A room's presence is coalesced to one frame per member per `presenceIntervalMs`. With a timer
 * per room, rooms whose members joined in the same storm (a connect or reconnect storm) came due
 * in the same instant and their timers ran back to back, a frame to every member of every room,
 * with no I/O in between; they stayed together, each taking its last-sent time at the same
 * `Date.now()`. Here due rooms wait in one queue and a callback sends at most `framesPerTick`
 * frames (a large room is split across callbacks: each member still gets the frame once); when
 * more are due it continues on `setImmediate`, so sockets' I/O and other timers run between
 * batches.
 *
 * Latency bound: a change is sent no earlier than `presenceIntervalMs` after the room's previous
 * presence, and reaches its last member within about PRESENCE_TICK_MS after that, plus one
 * event-loop turn per `framesPerTick` presence frames queued ahead of it (those due at once).
 */

/** Least time between two timer callbacks of the ticker (ms): each scan of the due rooms is shared. */
export const PRESENCE_TICK_MS = 10

/** What the ticker needs of a room. */
export interface PresenceSubject {
  /** Builds the frame for everyone in the room now; false when there is nothing new to send. */
  beginPresence(now: number): boolean
  /** Sends the begun frame to up to `max` more members; returns how many frames it sent. */
  sendPresence(max: number): number
  /** True while the begun frame has members left to reach. */
  presencePending(): boolean
}

/** One presence queue per server (a room without one makes its own). */
export class PresenceTicker {
  readonly #budget: number
  /** Rooms with a change, by the time their next presence may go. */
  readonly #due = new Map<PresenceSubject, number>()
  /** Due rooms waiting for budget, in the order they came due. */
  readonly #ready = new Set<PresenceSubject>()
  /** Rooms part way through sending a frame. */
  readonly #sending = new Set<PresenceSubject>()
  #timer: ReturnType<typeof setTimeout> | undefined
  #timerAt = Number.POSITIVE_INFINITY
  #immediate: ReturnType<typeof setImmediate> | undefined
  #lastTickAt = Number.NEGATIVE_INFINITY
  #stopped = false

  constructor(framesPerTick: number) {
    this.#budget = Math.max(1, Math.floor(framesPerTick))
  }

  /** Asks for `subject`'s presence at `at` (epoch ms) or later; a pending request is kept as it is. */
  schedule(subject: PresenceSubject, at: number): void {
    if (this.#stopped || this.#due.has(subject) || this.#ready.has(subject)) return
    this.#due.set(subject, at)
    this.#arm(at)
  }

  /** Forgets `subject` (a disposed room). */
  cancel(subject: PresenceSubject): void {
    this.#due.delete(subject)
    this.#ready.delete(subject)
    this.#sending.delete(subject)
  }

  /** Sends up to the budget of due presence frames; returns how many (the timer calls this; tests may too). */
  tick(now = Date.now()): number {
    this.#lastTickAt = now
    let next = Number.POSITIVE_INFINITY
    for (const [s, at] of this.#due) {
      if (at <= now) {
        this.#due.delete(s)
        this.#ready.add(s)
      } else if (at < next) next = at
    }
    let left = this.#budget
    while (left > 0) {
      let s = first(this.#sending)
      if (!s) {
        s = first(this.#ready)
        if (!s) break
        this.#ready.delete(s)
        if (!s.beginPresence(now)) continue
        this.#sending.add(s)
      }
      // Each call moves the room's cursor on by up to `left` members, so this loop ends.
      left -= s.sendPresence(left)
      if (!s.presencePending()) this.#sending.delete(s)
    }
    if (this.#sending.size > 0 || this.#ready.size > 0) {
      this.#immediate ??= setImmediate(() => {
        this.#immediate = undefined
        this.tick()
      })
    } else if (next !== Number.POSITIVE_INFINITY) this.#arm(next)
    return this.#budget - left
  }

  /** Stops the timers; pending presence is dropped. */
  stop(): void {
    this.#stopped = true
    if (this.#timer) clearTimeout(this.#timer)
    if (this.#immediate) clearImmediate(this.#immediate)
    this.#timer = undefined
    this.#immediate = undefined
    this.#due.clear()
    this.#ready.clear()
    this.#sending.clear()
  }

  #arm(at: number): void {
    // A continuation is queued: it scans the due rooms anyway.
    if (this.#immediate) return
    const when = Math.max(at, this.#lastTickAt + PRESENCE_TICK_MS)
    if (this.#timer && this.#timerAt <= when) return
    if (this.#timer) clearTimeout(this.#timer)
    this.#timerAt = when
    this.#timer = setTimeout(
      () => {
        this.#timer = undefined
        this.#timerAt = Number.POSITIVE_INFINITY
        this.tick()
      },
      Math.max(0, when - Date.now()),
    )
    this.#timer.unref()
  }
}

function first<T>(set: Set<T>): T | undefined {
  for (const v of set) return v
  return undefined
}
