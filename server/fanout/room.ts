/**
 * A room: the hot path of fan-out (DESIGN section 7). One room per watched execution per node
 * owns the execution's follower; its members are peers (sockets, SSE responses) that are either
 * live (at the room's head) or catching up (behind it, with a cursor of their own).
 *
 * Appends are collected and flushed once per tick into ONE frame built by concatenating the
 * entries' cached JSON; the room hands that same frame to every live member, and each transport
 * encodes it once for all of its members (fanout/frame.ts). The room builds no transport bytes.
 * Subscribing is one synchronous step: replay from the log and registration happen without an
 * await in between, so no event can fall between replay and live delivery.
 */

import type { ExecutionStatus } from '@flowcast/protocol'
import { CloseCode, FlowcastError } from '@flowcast/protocol'
import type { Logger } from 'pino'
import type { BrokerEntry, Follower, FollowerListener, StreamClose } from '../brokers/broker.ts'
import type { ServerMetrics } from '../metrics.ts'
import type { ServerLimits } from '../options.ts'
import { FlushQueue, type FlushSubject } from './flush-queue.ts'
import { type OutFrame, RoomFrames } from './frame.ts'
import { type Member, offer, type Peer, type SubscribeInfo } from './member.ts'
import { type PresenceSubject, PresenceTicker } from './presence.ts'

/** Frames' worth of events (maxFrameBytes each) a room holds before it flushes within the tick. */
const PENDING_FLUSH_FRAMES = 4

/** The limits a room reads. */
export type RoomLimits = Pick<
  ServerLimits,
  | 'highWaterMark'
  | 'catchUpBatch'
  | 'slowConsumerTimeoutMs'
  | 'drainCheckMs'
  | 'presenceIntervalMs'
  | 'presenceFramesPerTick'
  | 'maxFrameBytes'
>

/** One execution's room on this node. */
export class Room implements PresenceSubject, FlushSubject, FollowerListener {
  readonly executionId: string
  readonly #follower: Follower
  readonly #limits: RoomLimits
  readonly #metrics: ServerMetrics | undefined
  readonly #logger: Logger | undefined
  /** Told when the last member leaves; the owner decides whether to dispose the room. */
  readonly #onEmpty: (room: Room) => void
  readonly #frames: RoomFrames
  readonly #members = new Map<Peer, Member>()
  readonly #live = new Set<Member>()
  readonly #catching = new Set<Member>()
  readonly #unlisten: () => void
  /** Seq of the last event flushed to live members. */
  #head: number
  #pending: BrokerEntry[] = []
  /** JSON length of #pending: a burst put in one tick is flushed in slices, not held whole. */
  #pendingBytes = 0
  /** The server's end-of-turn flush (fanout/flush-queue.ts), or this room's own. */
  readonly #flushes: FlushQueue
  /** In #flushes for this turn, with events in #pending. */
  #queued = false
  #drainTimer: ReturnType<typeof setInterval> | undefined
  /** The server's presence queue (fanout/presence.ts), or this room's own when none was given. */
  readonly #presence: PresenceTicker
  readonly #ownsPresence: boolean
  #presenceSent = -1
  #lastPresenceAt = 0
  /** The presence frame being sent, and the members it goes to (a snapshot, sent in slices). */
  #presenceFrame: OutFrame | undefined
  #presenceTo: Member[] = []
  #presenceNext = 0
  #close: StreamClose | undefined
  #status: ExecutionStatus
  #disposed = false

  constructor(
    follower: Follower,
    limits: RoomLimits,
    onEmpty: (room: Room) => void,
    metrics?: ServerMetrics,
    logger?: Logger,
    presence?: PresenceTicker,
    flushes?: FlushQueue,
  ) {
    this.executionId = follower.executionId
    this.#ownsPresence = presence === undefined
    this.#presence = presence ?? new PresenceTicker(limits.presenceFramesPerTick)
    this.#flushes = flushes ?? new FlushQueue()
    this.#follower = follower
    this.#limits = limits
    this.#metrics = metrics
    this.#logger = logger
    this.#onEmpty = onEmpty
    this.#frames = new RoomFrames(follower.executionId)
    // Read the head and start listening in one step: nothing can be appended in between.
    this.#head = follower.lastSeq
    this.#close = follower.streamClose
    this.#status = follower.status
    // The room is its follower's listener itself: per append the follower reads this object, not a
    // listener object, a closure and its context (cold when a thousand rooms each get an event in turn).
    this.#unlisten = follower.listen(this)
  }

  get disposed(): boolean {
    return this.#disposed
  }

  /** Members (subscriptions) of this room. */
  get size(): number {
    return this.#members.size
  }

  get status(): ExecutionStatus {
    return this.#status
  }

  /** Members that are behind the head (paused or replaying). */
  get catchingUp(): number {
    return this.#catching.size
  }

  has(peer: Peer): boolean {
    return this.#members.has(peer)
  }

  /**
   * Adds `peer` from seq `since` in one synchronous step: `beforeReplay` (the `subscribed`
   * reply) goes first, then the retained events after `since`, then live events. Throws
   * FlowcastError('invalid_since') when `since` is beyond the last seq.
   */
  subscribe(peer: Peer, since: number, beforeReplay?: (info: SubscribeInfo) => void): void {
    if (this.#disposed) throw new FlowcastError('internal', 'room is disposed')
    if (this.#members.has(peer)) throw new FlowcastError('already_subscribed', 'already subscribed')
    const lastSeq = this.#follower.lastSeq
    if (!Number.isSafeInteger(since) || since < 0 || since > lastSeq) {
      throw new FlowcastError(
        'invalid_since',
        `since must be an integer from 0 to the last seq (${lastSeq}), got ${since}`,
      )
    }
    // A `since` among appended-but-unflushed events: flush now so the head covers it.
    if (since > this.#head) this.#flush()
    const member: Member = { peer, ended: false, cursor: since, stuckSince: 0, status: this.#status }
    this.#members.set(peer, member)
    beforeReplay?.({
      status: this.#status,
      streamOpen: this.#close === undefined,
      lastSeq,
      subscribers: this.#members.size,
    })
    this.#catching.add(member)
    this.#pump(member)
    this.#schedulePresence()
  }

  /** Removes `peer`; returns false when it was not a member. */
  unsubscribe(peer: Peer): boolean {
    const member = this.#members.get(peer)
    if (!member) return false
    this.#members.delete(peer)
    this.#live.delete(member)
    this.#catching.delete(member)
    if (this.#members.size === 0) this.#onEmpty(this)
    else this.#schedulePresence()
    return true
  }

  /** Releases the follower and every timer; members are forgotten, not closed. */
  dispose(): void {
    if (this.#disposed) return
    this.#disposed = true
    this.#unlisten()
    this.#follower.release()
    this.#queued = false
    if (this.#drainTimer) clearInterval(this.#drainTimer)
    if (this.#ownsPresence) this.#presence.stop()
    else this.#presence.cancel(this)
    this.#presenceFrame = undefined
    this.#presenceTo = []
    this.#members.clear()
    this.#live.clear()
    this.#catching.clear()
    this.#pending = []
  }

  // ---- follower events (FollowerListener: called by this room's follower only) -----------------

  /** An event was appended: it joins this turn's flush. */
  onAppend(entry: BrokerEntry): void {
    this.#pending.push(entry)
    this.#pendingBytes += entry.json.length
    // A burst of hundreds of MiB in one tick must not wait for the tick's end in memory: flush it in
    // slices of a few frames; members it fills past the high-water mark read the rest from the log.
    if (this.#pendingBytes >= PENDING_FLUSH_FRAMES * this.#limits.maxFrameBytes) {
      this.#flush()
      return
    }
    if (this.#queued) return
    this.#queued = true
    this.#flushes.add(this)
  }

  /** The flush queue's call at the end of the turn the events were appended in. */
  flushQueued(): void {
    if (this.#queued && !this.#disposed) this.#flush()
  }

  /** The stream closed: what was appended goes out, then `stream_end`. */
  onClose(info: StreamClose): void {
    // Everything appended before the close goes out before stream_end.
    this.#flush()
    this.#close = info
    if (this.#live.size === 0) return
    const frame = this.#frames.streamEnd(info)
    // Events the close counts but this node never received (lost in Redis) end in a gap, not silence.
    const tail = info.lastSeq > this.#head ? this.#frames.gap(this.#head + 1, info.lastSeq) : undefined
    for (const m of this.#live) {
      if (tail) this.#send(m, tail)
      this.#send(m, frame)
      m.ended = true
      m.peer.onStreamEnd?.()
    }
    this.#live.clear()
  }

  /**
   * The execution was evicted: members still behind get `stream_end { reason: 'evicted' }`, every
   * member is released (its peer forgets the subscription), and the room goes with its last one.
   */
  onGone(): void {
    this.#flush()
    const end = this.#frames.streamEnd({ reason: 'evicted', lastSeq: this.#head })
    for (const m of [...this.#members.values()]) {
      if (!m.ended) {
        this.#send(m, end)
        m.ended = true
        m.peer.onStreamEnd?.()
      }
      if (this.unsubscribe(m.peer)) m.peer.onReleased?.(this.executionId)
    }
  }

  /**
   * Members that got some of seqs `from..to` got items the execution's log does not hold (this
   * node lost the execution and the next holder put others there): each is told which, in an
   * `error` frame that ends nothing, before what follows. A member behind `from` reads the log's.
   */
  onDiverged(from: number, to: number): void {
    this.#flush()
    for (const m of this.#members.values()) {
      const got = Math.min(to, this.#live.has(m) ? this.#head : m.cursor)
      if (m.ended || got < from) continue
      const range = from === got ? `seq ${from}` : `seqs ${from}..${got}`
      this.#send(
        m,
        this.#frames.error(
          'node_lost',
          `execution ${this.executionId}: the items of ${range} came from this node's copy after its lease had passed; the node that took the execution over put other items there (read them with since ${from - 1}); what follows is the execution's log`,
        ),
      )
    }
  }

  /** The execution's status changed: members at the head are told now. */
  onStatus(status: ExecutionStatus): void {
    // Status after the events that preceded it, so a UI never sees "completed" before the last event:
    // members at the head get it now; those catching up get the latest one when they reach the head.
    this.#flush()
    this.#status = status
    const frame = this.#frames.status(this.#status)
    for (const m of this.#members.values()) {
      if (this.#catching.has(m) || !m.peer.open) continue
      this.#send(m, frame)
      m.status = status
    }
  }

  // ---- delivery ---------------------------------------------------------------------------------

  #flush(): void {
    // Flushed early (a close, a status, a subscribe's since): the queue's later call finds nothing.
    this.#queued = false
    const entries = this.#pending
    if (entries.length === 0) return
    this.#pending = []
    this.#pendingBytes = 0
    const first = entries[0]!.seq
    const previous = this.#head
    this.#head = Math.max(previous, entries[entries.length - 1]!.seq)
    this.#metrics?.eventsIn.inc(entries.length)
    if (this.#live.size === 0) return
    // A follower that skipped seqs (Redis lost them): a hole is only ever announced by `gap`.
    // (Seqs from a follower only increase, so the span tells whether any is missing.)
    if (first !== previous + 1 || this.#head - first !== entries.length - 1) {
      this.#flushAcrossHoles(entries, previous)
      return
    }
    const frames = this.#frames.batches(entries, this.#limits.maxFrameBytes)
    const hwm = this.#limits.highWaterMark
    if (frames.length === 1) {
      this.#flushOne(frames[0]!, first, hwm)
      return
    }
    let sentFrames = 0
    // Members that got every frame, counted once below; a member cut short adds its own part.
    let whole = 0
    let partBytes = 0
    let partEvents = 0
    for (const m of this.#live) {
      if (m.peer.bufferedAmount > hwm || !m.peer.open) {
        // Paused: it has everything before this batch and will read the rest from the log.
        this.#pause(m, first - 1)
        continue
      }
      let i = 0
      while (i < frames.length) {
        m.peer.send(frames[i++]!)
        // A batch of many frames stops at the high-water mark: the socket holds at most that plus
        // one frame, never the whole burst; the rest is read from the log as it drains.
        if (i < frames.length && m.peer.bufferedAmount > hwm) break
      }
      sentFrames += i
      if (i === frames.length) {
        whole++
        continue
      }
      this.#pause(m, frames[i - 1]!.lastSeq ?? first - 1)
      for (let j = 0; j < i; j++) {
        partBytes += frames[j]!.byteLength
        partEvents += frames[j]!.count
      }
    }
    if (this.#metrics && sentFrames > 0) {
      let bytes = 0
      for (const f of frames) bytes += f.byteLength
      this.#metrics.framesSent.inc(sentFrames)
      this.#metrics.bytesSent.inc(whole * bytes + partBytes)
      this.#metrics.eventsOut.inc(whole * entries.length + partEvents)
    }
    if (this.#catching.size > 0) this.#startDrainTimer()
  }

  /** The usual flush, one frame for every live member: per member, one offer. */
  #flushOne(frame: OutFrame, first: number, hwm: number): void {
    let sent = 0
    for (const m of this.#live) {
      if (offer(m.peer, frame, hwm)) sent++
      // Paused: it has everything before this batch and will read the rest from the log.
      else this.#pause(m, first - 1)
    }
    const metrics = this.#metrics
    if (metrics && sent > 0) {
      metrics.framesSent.inc(sent)
      metrics.bytesSent.inc(sent * frame.byteLength)
      metrics.eventsOut.inc(sent * frame.count)
    }
    if (this.#catching.size > 0) this.#startDrainTimer()
  }

  /** Moves a live member to the catching-up set, `cursor` being the last seq it has. */
  #pause(m: Member, cursor: number): void {
    this.#live.delete(m)
    m.cursor = cursor
    m.stuckSince = Date.now()
    this.#catching.add(m)
    this.#metrics?.slowPauses.inc()
  }

  /** The rare flush of a batch with holes: events, `gap`, events, in seq order, to every live member. */
  #flushAcrossHoles(entries: BrokerEntry[], previous: number): void {
    const frames: OutFrame[] = []
    let gaps = 0
    let expected = previous + 1
    let run = 0
    for (let i = 0; i <= entries.length; i++) {
      const seq = entries[i]?.seq
      if (seq !== undefined && seq === expected) {
        expected++
        continue
      }
      if (i > run) frames.push(...this.#frames.batches(entries.slice(run, i), this.#limits.maxFrameBytes))
      if (seq === undefined) break
      if (seq < expected) {
        // Never repeat: drop what the live members already have.
        run = i + 1
        continue
      }
      frames.push(this.#frames.gap(expected, seq - 1))
      gaps++
      expected = seq + 1
      run = i
    }
    let events = 0
    for (const f of frames) events += f.count
    const hwm = this.#limits.highWaterMark
    for (const m of this.#live) {
      if (m.peer.bufferedAmount > hwm || !m.peer.open) {
        // Paused before this batch: it reads the rest, holes included, from the log.
        this.#pause(m, previous)
        continue
      }
      for (const f of frames) this.#send(m, f)
      this.#metrics?.eventsOut.inc(events)
      if (gaps > 0) this.#metrics?.gaps.inc(gaps)
    }
    if (this.#catching.size > 0) this.#startDrainTimer()
  }

  /** Serves a catching-up member from the log in bounded batches until it is live, paused or ended. */
  #pump(m: Member): void {
    const { highWaterMark, catchUpBatch } = this.#limits
    while (!m.ended && !this.#live.has(m) && this.#members.has(m.peer)) {
      if (!m.peer.open) return
      if (m.cursor >= this.#head) {
        this.#catching.delete(m)
        m.stuckSince = 0
        // The status it missed while behind, now that it has every event before it.
        if (m.status !== this.#status) {
          this.#send(m, this.#frames.status(this.#status))
          m.status = this.#status
        }
        if (this.#close && this.#pending.length === 0) {
          if (this.#close.lastSeq > m.cursor)
            this.#send(m, this.#frames.gap(m.cursor + 1, this.#close.lastSeq))
          this.#send(m, this.#frames.streamEnd(this.#close))
          m.ended = true
          m.peer.onStreamEnd?.()
        } else {
          this.#live.add(m)
        }
        return
      }
      if (m.peer.bufferedAmount > highWaterMark) {
        if (m.stuckSince === 0) m.stuckSince = Date.now()
        this.#catching.add(m)
        this.#startDrainTimer()
        return
      }
      const read = this.#follower.read(m.cursor, Math.min(catchUpBatch, this.#head - m.cursor))
      const next = read.entries.find((e) => e.seq > m.cursor)?.seq
      const gap =
        read.gap ??
        (next === undefined
          ? { from: m.cursor + 1, to: this.#head }
          : next > m.cursor + 1
            ? { from: m.cursor + 1, to: next - 1 }
            : undefined)
      if (gap) {
        this.#send(m, this.#frames.gap(gap.from, gap.to))
        this.#metrics?.gaps.inc()
        m.cursor = gap.to
      }
      let entries = read.entries.filter((e) => e.seq > m.cursor && e.seq <= this.#head)
      // A hole inside the page: send up to it; the next read announces it as a gap.
      if (!contiguous(entries)) entries = entries.slice(0, contiguousPrefix(entries))
      if (entries.length > 0) {
        // Frame by frame up to the high-water mark: a batch of big events is not queued whole.
        const frames = this.#frames.batches(entries, this.#limits.maxFrameBytes)
        for (let i = 0; i < frames.length; i++) {
          const frame = frames[i]!
          if (i > 0 && m.peer.bufferedAmount > highWaterMark) break
          this.#send(m, frame)
          this.#metrics?.eventsOut.inc(frame.count)
          m.cursor = frame.lastSeq ?? m.cursor
        }
      }
      m.stuckSince = 0
    }
  }

  #startDrainTimer(): void {
    if (this.#drainTimer || this.#disposed) return
    this.#drainTimer = setInterval(() => this.#checkCatching(), this.#limits.drainCheckMs)
  }

  #checkCatching(): void {
    const now = Date.now()
    for (const m of [...this.#catching]) {
      if (!this.#members.has(m.peer)) {
        this.#catching.delete(m)
        continue
      }
      this.#pump(m)
      if (m.stuckSince !== 0 && now - m.stuckSince > this.#limits.slowConsumerTimeoutMs) {
        this.#metrics?.slowCloses.inc()
        this.#logger?.warn({ executionId: this.executionId }, 'slow consumer closed (4008)')
        m.peer.close(CloseCode.tooSlow, 'too slow')
        this.unsubscribe(m.peer)
      }
    }
    if (this.#catching.size === 0 && this.#drainTimer) {
      clearInterval(this.#drainTimer)
      this.#drainTimer = undefined
    }
  }

  #send(m: Member, frame: OutFrame): void {
    if (!m.peer.open) return
    m.peer.send(frame)
    if (this.#metrics) {
      this.#metrics.framesSent.inc()
      this.#metrics.bytesSent.inc(frame.byteLength)
    }
  }

  #schedulePresence(): void {
    if (this.#disposed) return
    this.#presence.schedule(this, this.#lastPresenceAt + this.#limits.presenceIntervalMs)
  }

  /** The ticker's call: the count for everyone in the room now; false when it has not changed. */
  beginPresence(now: number): boolean {
    if (this.#disposed) return false
    const n = this.#members.size
    if (n === this.#presenceSent) return false
    this.#presenceSent = n
    this.#lastPresenceAt = now
    this.#presenceFrame = this.#frames.presence(n)
    this.#presenceTo = [...this.#members.values()]
    this.#presenceNext = 0
    return true
  }

  /** The ticker's call: the begun presence frame to up to `max` more of its members. */
  sendPresence(max: number): number {
    const frame = this.#presenceFrame
    if (!frame) return 0
    const to = this.#presenceTo
    const end = Math.min(to.length, this.#presenceNext + max)
    let sent = 0
    while (this.#presenceNext < end) {
      const m = to[this.#presenceNext++]!
      // A member that left since the snapshot gets nothing more from this room.
      if (this.#members.get(m.peer) !== m) continue
      this.#send(m, frame)
      sent++
    }
    if (this.#presenceNext >= to.length) {
      this.#presenceFrame = undefined
      this.#presenceTo = []
    }
    return sent
  }

  /** The ticker's call: true while the begun presence frame has members left to reach. */
  presencePending(): boolean {
    return this.#presenceFrame !== undefined
  }
}

/** How many entries from the start follow each other seq by seq. */
function contiguousPrefix(entries: BrokerEntry[]): number {
  let i = 1
  while (i < entries.length && entries[i]!.seq === entries[i - 1]!.seq + 1) i++
  return Math.min(i, entries.length)
}

/** True when the entries' seqs follow each other with no hole. */
function contiguous(entries: BrokerEntry[]): boolean {
  return contiguousPrefix(entries) === entries.length
}
