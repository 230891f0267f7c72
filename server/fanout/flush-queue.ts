/**
 * The end-of-turn flush of every room of one server. A room with events appended in this
 * event-loop turn joins the queue once, and one setImmediate flushes every queued room in the
 * order they joined: with a setImmediate per room, a turn that appended to many rooms (one event
 * each, the many-rooms shape) made and ran as many Immediates, each with its own allocation,
 * timer-list insert and callback frame.
 */

/** What the queue needs of a room. */
export interface FlushSubject {
  /** Flushes what was appended since the room joined the queue (nothing when it flushed early). */
  flushQueued(): void
}

/** One flush queue per server (a room without one makes its own). */
export class FlushQueue {
  #queued: FlushSubject[] = []
  /** The array flushed last time, reused for the next turn's queue. */
  #spare: FlushSubject[] = []
  #immediate: ReturnType<typeof setImmediate> | undefined

  /** Queues `subject` for this turn's flush; the caller queues a room at most once per flush. */
  add(subject: FlushSubject): void {
    this.#queued.push(subject)
    this.#immediate ??= setImmediate(this.#run)
  }

  /** Drops the pending flush (the server is closing; its rooms are disposed). */
  stop(): void {
    if (this.#immediate) clearImmediate(this.#immediate)
    this.#immediate = undefined
    this.#queued = []
  }

  readonly #run = (): void => {
    this.#immediate = undefined
    const rooms = this.#queued
    this.#queued = this.#spare
    let i = 0
    try {
      while (i < rooms.length) rooms[i++]!.flushQueued()
    } finally {
      // A room whose flush threw must not leave the rooms after it queued forever.
      if (i < rooms.length) for (let j = i; j < rooms.length; j++) this.add(rooms[j]!)
      rooms.length = 0
      this.#spare = rooms
    }
  }
}
