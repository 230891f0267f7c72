/**
 * A room's view of an execution this node runs from its start: served from the local copy in
 * memory, fast, and, once another node has taken the execution over (this node was fenced: a
 * stall or a partition longer than its lease; or it handed the execution over), from the
 * execution's Redis log, after the last seq it told. The room keeps its members and their
 * cursors: they see the next holder's items and end as the execution does, with no gap and no
 * repeat, as a room on any other node does.
 *
 * Items a fenced node puts after the sweep never reach Redis, and the next holder puts other
 * items at the same seqs. So that this node's own watchers do not see them, the local copy's
 * news is held while the node is not sure it still holds its executions (`unsure`: its lease may
 * have passed, or its writer has a fence check due) and told once it is sure again; a node
 * found fenced drops what it held and goes on from Redis. What was told before the doubt could
 * arise (an EXEC delayed past the sweep, say by a partition) and differs from Redis's log is
 * announced to the listeners (`onDiverged`), never passed over in silence.
 */
import type { ExecutionStatus } from '@flowcast/protocol'
import type { BrokerEntry, BrokerRead, Follower, FollowerListener, StreamClose } from '../broker.ts'

type News = { entry: BrokerEntry } | { status: ExecutionStatus } | { close: StreamClose }

/** Entries per read when the switch compares or catches up. */
const PAGE = 1024

export interface OwnFollowerOptions {
  /** True while the node cannot be sure its writes still count: the local copy's news waits. */
  unsure(): boolean
  /** Told when it starts holding news: the broker rechecks only those (not every room per batch). */
  onHold(follower: OwnFollower): void
  /** Told once, when the room lets go of it. */
  onRelease(follower: OwnFollower): void
}

/** One room's follower of an execution started here: the local copy, then the Redis log. */
export class OwnFollower implements Follower {
  readonly executionId: string
  readonly #o: OwnFollowerOptions
  readonly #local: Follower
  readonly #listeners = new Set<FollowerListener>()
  /** Where reads go: the local copy, then (once switched) the copy of the Redis log. */
  #source: Follower
  #offSource: () => void
  #state: 'local' | 'leaving' | 'remote' = 'local'
  /** The local copy's news not told yet (the node was unsure), in order. */
  #held: News[] = []
  #head: number
  #status: ExecutionStatus
  #close: StreamClose | undefined
  #released = false

  constructor(local: Follower, options: OwnFollowerOptions) {
    this.executionId = local.executionId
    this.#o = options
    this.#local = local
    this.#source = local
    this.#head = local.lastSeq
    this.#status = local.status
    this.#close = local.streamClose
    this.#offSource = local.listen({
      onAppend: (entry) => this.#fromLocal({ entry }),
      onStatus: (status) => this.#fromLocal({ status }),
      onClose: (close) => this.#fromLocal({ close }),
      onGone: () => this.#gone(),
    })
  }

  get status(): ExecutionStatus {
    return this.#status
  }
  get lastSeq(): number {
    return this.#head
  }
  get streamClose(): StreamClose | undefined {
    return this.#close
  }
  get released(): boolean {
    return this.#released
  }

  read(after: number, limit: number): BrokerRead {
    // Never past what was told: the source may hold more (held news, or the Redis log ahead).
    const r = this.#source.read(after, Math.max(0, Math.min(limit, this.#head - after)))
    const out: BrokerRead = { entries: r.entries.filter((e) => e.seq <= this.#head) }
    if (r.gap && r.gap.from <= this.#head) out.gap = { from: r.gap.from, to: Math.min(r.gap.to, this.#head) }
    return out
  }

  covers(after: number): boolean {
    return this.#source.covers?.(after) ?? true
  }

  cover(after: number): Promise<void> {
    return this.#source.cover?.(after) ?? Promise.resolve()
  }

  listen(listener: FollowerListener): () => void {
    this.#listeners.add(listener)
    return () => this.#listeners.delete(listener)
  }

  release(): void {
    if (this.#released) return
    this.#released = true
    this.#offSource()
    this.#listeners.clear()
    this.#held = []
    if (this.#source !== this.#local) this.#source.release()
    this.#local.release()
    this.#o.onRelease(this)
  }

  /** The node may be sure again: tells what it held. False while it still holds some. */
  recheck(): boolean {
    if (this.#state !== 'local' || this.#held.length === 0) return true
    if (this.#o.unsure()) return false
    const held = this.#held
    this.#held = []
    for (const news of held) this.#tell(news)
    return true
  }

  /**
   * The execution is no longer this node's: from now on nothing of the local copy is told (what
   * was held never is); reads stay on it, up to the last seq told, until `switchTo`.
   */
  leave(): void {
    if (this.#state !== 'local') return
    this.#state = 'leaving'
    this.#offSource()
    this.#offSource = () => undefined
    this.#held = []
  }

  /**
   * Goes on from `remote`, a copy of the Redis log holding everything after seq `confirmed`
   * (the last one Redis confirmed from this node): told seqs whose item Redis does not have are
   * announced as diverged, then what Redis has after the last seq told follows, then its status
   * and close. Undefined: the execution is gone from Redis too (expired); the room ends.
   */
  switchTo(remote: Follower | undefined, confirmed: number): void {
    if (this.#released || this.#state !== 'leaving') {
      remote?.release()
      return
    }
    if (!remote) {
      this.#gone()
      return
    }
    const diverged = this.#divergence(remote, confirmed)
    this.#local.release()
    this.#state = 'remote'
    this.#source = remote
    // Listening and catching up in one synchronous step: nothing the reader adds falls between.
    this.#offSource = remote.listen({
      onAppend: (entry) => this.#tell({ entry }),
      onStatus: (status) => this.#tell({ status }),
      onClose: (close) => this.#tell({ close }),
      onGone: () => this.#gone(),
    })
    if (diverged !== undefined) for (const l of this.#listeners) l.onDiverged?.(diverged, this.#head)
    for (let after = this.#head; ; ) {
      const page = remote.read(after, PAGE).entries.filter((e) => e.seq > after)
      if (page.length === 0) break
      for (const entry of page) this.#tell({ entry })
      after = page[page.length - 1]!.seq
    }
    this.#tell({ status: remote.status })
    if (remote.streamClose) this.#tell({ close: remote.streamClose })
  }

  /** The execution is gone (evicted here, or from Redis): the room ends its members. */
  #gone(): void {
    for (const l of [...this.#listeners]) l.onGone?.()
  }

  #fromLocal(news: News): void {
    if (this.#state !== 'local') return
    if (this.#held.length > 0) this.#held.push(news)
    else if (this.#o.unsure()) {
      this.#held.push(news)
      this.#o.onHold(this)
    } else this.#tell(news)
  }

  #tell(news: News): void {
    if ('entry' in news) {
      // Seqs only go up: a seq told already (the Redis log catching up) is not told again.
      if (news.entry.seq <= this.#head) return
      this.#head = news.entry.seq
      for (const l of this.#listeners) l.onAppend?.(news.entry)
    } else if ('status' in news) {
      if (news.status === this.#status) return
      this.#status = news.status
      for (const l of this.#listeners) l.onStatus?.(news.status)
    } else {
      if (this.#close) return
      this.#close = news.close
      for (const l of this.#listeners) l.onClose?.(news.close)
    }
  }

  /** The first seq after `confirmed`, up to the last told, whose item Redis lacks or holds another of. */
  #divergence(remote: Follower, confirmed: number): number | undefined {
    for (let after = confirmed; after < this.#head; ) {
      const mine = this.#local.read(after, Math.min(PAGE, this.#head - after)).entries
      const theirs = new Map(remote.read(after, PAGE).entries.map((e) => [e.seq, e.json]))
      for (const e of mine) {
        if (e.seq > this.#head) return undefined
        if (theirs.get(e.seq) !== e.json) return e.seq
      }
      if (mine.length === 0) return undefined
      after = mine[mine.length - 1]!.seq
    }
    return undefined
  }
}
