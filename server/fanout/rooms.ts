/**
 * The rooms of one server: one per watched execution, opened (with its follower) on first
 * subscribe and dropped with its last member once nobody is entering it.
 */
import type { Logger } from 'pino'
import type { Broker, Follower } from '../brokers/broker.ts'
import type { ServerMetrics } from '../metrics.ts'
import { FlushQueue } from './flush-queue.ts'
import { PresenceTicker } from './presence.ts'
import { Room, type RoomLimits } from './room.ts'

/** Every room of one server. */
export class Rooms {
  readonly #broker: Broker
  readonly #limits: RoomLimits
  readonly #metrics: () => ServerMetrics | undefined
  readonly #logger: Logger | undefined
  readonly #rooms = new Map<string, Room>()
  readonly #opening = new Map<string, Promise<Room | undefined>>()
  readonly #followers = new WeakMap<Room, Follower>()
  /**
   * Callers inside enter() per execution, counted from before their first await: a room is not
   * disposed under them when its last member leaves meanwhile (a subscribe, unsubscribe, subscribe
   * on one socket; two sockets on a slow follow()).
   */
  readonly #entering = new Map<string, number>()
  /** One presence queue for every room, so that rooms due at once share a budget per callback. */
  readonly #presence: PresenceTicker
  /** One end-of-turn flush for every room with new events. */
  readonly #flushes = new FlushQueue()
  #closed = false

  constructor(broker: Broker, limits: RoomLimits, metrics: () => ServerMetrics | undefined, logger?: Logger) {
    this.#broker = broker
    this.#limits = limits
    this.#metrics = metrics
    this.#logger = logger
    this.#presence = new PresenceTicker(limits.presenceFramesPerTick)
  }

  /**
   * Runs `use` with the room of `executionId`, opening it (and its follower) when needed, and
   * resolves with what `use` returned; undefined when the execution is unknown. `use` runs in the
   * same synchronous step as the room is found live, and the room stays while the caller waits;
   * a room `use` leaves empty is disposed after it. `since`: the caller's cursor, so that a
   * follower holding only part of a remote log loads what this caller needs first.
   */
  async enter<T>(executionId: string, use: (room: Room) => T, since = 0): Promise<T | undefined> {
    this.#entering.set(executionId, (this.#entering.get(executionId) ?? 0) + 1)
    let room: Room | undefined
    // A `since` the room will refuse (invalid_since) asks for nothing to be loaded.
    const need = Number.isSafeInteger(since) && since >= 0 ? since : Number.MAX_SAFE_INTEGER
    try {
      room = await this.#find(executionId, need)
      return room ? use(room) : undefined
    } finally {
      const n = this.#entering.get(executionId)! - 1
      if (n > 0) this.#entering.set(executionId, n)
      else this.#entering.delete(executionId)
      if (room) this.#disposeIfIdle(room)
    }
  }

  /** The open room of `executionId`, if any. */
  get(executionId: string): Room | undefined {
    return this.#rooms.get(executionId)
  }

  get count(): number {
    return this.#rooms.size
  }

  /** Subscriptions across all rooms. */
  get subscribers(): number {
    let n = 0
    for (const r of this.#rooms.values()) n += r.size
    return n
  }

  /** Disposes every room; rooms opening now are disposed as they open. */
  close(): void {
    this.#closed = true
    for (const r of [...this.#rooms.values()]) r.dispose()
    this.#rooms.clear()
    this.#presence.stop()
    this.#flushes.stop()
  }

  async #find(executionId: string, since: number): Promise<Room | undefined> {
    for (;;) {
      const existing = this.#rooms.get(executionId)
      if (existing && !existing.disposed) {
        const follower = this.#followers.get(existing)
        if (!follower?.cover || follower.covers?.(since) !== false) return existing
        // The room stays while this caller is entering; look again once the older events are in.
        await follower.cover(since)
        continue
      }
      let opening = this.#opening.get(executionId)
      if (!opening) {
        opening = this.#open(executionId, since)
        this.#opening.set(executionId, opening)
      }
      const room = await opening
      if (room && !room.disposed && this.#followers.get(room)?.covers?.(since) === false) continue
      if (!room?.disposed) return room
      // Only close() disposes a room someone is entering; after it there is nothing to open.
      if (this.#closed) return undefined
    }
  }

  #disposeIfIdle(room: Room): void {
    if (room.size > 0 || room.disposed || this.#entering.has(room.executionId)) return
    room.dispose()
    if (this.#rooms.get(room.executionId) === room) this.#rooms.delete(room.executionId)
  }

  async #open(executionId: string, since: number): Promise<Room | undefined> {
    try {
      const follower = await this.#broker.follow(executionId, since)
      if (!follower) return undefined
      if (this.#closed) {
        follower.release()
        return undefined
      }
      const room = new Room(
        follower,
        this.#limits,
        (r) => this.#disposeIfIdle(r),
        this.#metrics(),
        this.#logger,
        this.#presence,
        this.#flushes,
      )
      this.#rooms.set(executionId, room)
      this.#followers.set(room, follower)
      return room
    } finally {
      this.#opening.delete(executionId)
    }
  }
}
