/**
 * What room tests drive a Room with: a follower the test feeds (over the LogCache Redis followers
 * use) and a peer that records the frames it is sent.
 */
import type { ExecutionStatus } from '../../protocol/index.ts'
import type {
  BrokerEntry,
  BrokerRead,
  Follower,
  FollowerListener,
  StreamClose,
} from '../../server/brokers/broker.ts'
import { LogCache } from '../../server/brokers/redis/log-cache.ts'
import type { OutFrame } from '../../server/fanout/frame.ts'
import type { Peer } from '../../server/fanout/member.ts'

/** A follower whose entries, status and close the test sets; holes stay holes. */
export class FedFollower implements Follower {
  readonly executionId: string
  status: ExecutionStatus = 'running'
  streamClose: StreamClose | undefined
  released = false
  readonly #cache = new LogCache({ maxEvents: 10_000, maxBytes: 1 << 24 })
  readonly #listeners = new Set<FollowerListener>()

  constructor(executionId: string) {
    this.executionId = executionId
  }

  get lastSeq(): number {
    return this.#cache.lastSeq
  }
  read(after: number, limit: number): BrokerRead {
    return this.#cache.read(after, limit)
  }
  listen(listener: FollowerListener): () => void {
    this.#listeners.add(listener)
    return () => this.#listeners.delete(listener)
  }
  release(): void {
    this.released = true
    this.#listeners.clear()
  }
  /** Appends `entry` (when after the last seq) and tells the listeners. */
  feed(entry: BrokerEntry): void {
    if (this.#cache.append(entry)) for (const l of this.#listeners) l.onAppend?.(entry)
  }
  setStatus(status: ExecutionStatus): void {
    this.status = status
    for (const l of this.#listeners) l.onStatus?.(status)
  }
  close(reason: StreamClose['reason'], lastSeq = this.lastSeq): void {
    this.streamClose = { reason, lastSeq }
    for (const l of this.#listeners) l.onClose?.(this.streamClose)
  }
}

/** A peer that keeps every frame but presence. */
export class RecordingPeer implements Peer {
  bufferedAmount = 0
  open = true
  frames: OutFrame[] = []
  send(frame: OutFrame): void {
    if (frame.event !== 'presence') this.frames.push(frame)
  }
  close(): void {
    this.open = false
  }
}
