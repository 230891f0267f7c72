/**
 * The broker seam: everything the server knows about executions goes through this interface,
 * so nothing outside a broker knows where executions run or where their logs live. The memory
 * broker runs them in this process; a Redis broker keeps logs in Redis Streams and sends
 * commands over pub/sub to the node that runs the execution.
 *
 * Two speeds on purpose: whatever a remote store would answer is async (start, snapshot,
 * result, read, command); the hot path of fan-out is synchronous, served by a Follower, which
 * is a node-local cache of one execution's log kept current by the broker.
 */

import type { ChunkRunner, Retention, StreamClose, TriggerFlow } from '@flowcast/flows'
import type { ExecutionSnapshot, ExecutionStatus, FlowcastError, ResultResponse } from '@flowcast/protocol'

export type { StreamClose } from '@flowcast/flows'

/** One retained runtime-stream event: its seq and the envelope's JSON, encoded once at append. */
export interface BrokerEntry {
  readonly seq: number
  readonly json: string
}

/** A page of the log: entries after a cursor, with a gap when some of them are no longer retained. */
export interface BrokerRead {
  gap?: { from: number; to: number }
  entries: BrokerEntry[]
}

/** What the server knows of an execution at one moment: the snapshot route's body, less what the node adds. */
export interface ExecutionInfo extends Omit<ExecutionSnapshot, 'subscribers'> {
  streamClose?: StreamClose
}

/** The outcome of an execution, or its current status when it has not finished: the result route's body. */
export type ExecutionOutcome = ResultResponse

export type BrokerCommand =
  | { type: 'stop_stream'; by: string }
  | { type: 'continue'; interruptId: string; value: unknown }
  | { type: 'cancel'; by: string }

export type CommandOutcome =
  | { stopped: true }
  | { alreadyStopped: true }
  | { continued: true }
  | { cancelled: true }
  | { alreadyEnded: true }

/** Told synchronously, in the order things happened to the execution. */
export interface FollowerListener {
  onAppend?(entry: BrokerEntry): void
  onClose?(close: StreamClose): void
  onStatus?(status: ExecutionStatus): void
  /** The execution was evicted: its log is gone, and the follower serves nothing more. */
  onGone?(): void
  /**
   * Seqs `from..to` told before were items of a copy that lost the execution (its node was
   * fenced); the execution's log holds other items there, or none. What follows is that log's.
   */
  onDiverged?(from: number, to: number): void
}

/**
 * A node-local, synchronous view of one execution's log, kept current by its broker. Reads and
 * listeners never wait: that is what makes a room's subscribe atomic and its flush cheap.
 */
export interface Follower {
  readonly executionId: string
  readonly status: ExecutionStatus
  readonly lastSeq: number
  readonly streamClose: StreamClose | undefined
  /** Up to `limit` entries after seq `after` from the local cache, with a gap for what is gone. */
  read(after: number, limit: number): BrokerRead
  /** Registers a listener; returns its remover. */
  listen(listener: FollowerListener): () => void
  /**
   * Whether `read` serves everything retained after seq `after`; absent means always. A copy of a
   * remote log loads only what its readers asked for (issue 14: no full reload per room opening).
   */
  covers?(after: number): boolean
  /** Loads what `read(after, …)` needs and the copy does not hold yet. */
  cover?(after: number): Promise<void>
  /** Tells the broker this node no longer watches the execution through this follower. */
  release(): void
}

export interface StartOptions {
  /** Bounds of the retained runtime stream. */
  retention: Retention
  /** Largest stream item a put accepts (bytes of its envelope); a bigger one is `item_too_large`. */
  maxItemBytes?: number
  /** Wraps each chunk run (the server's tracing). */
  aroundChunk?: ChunkRunner
}

/** Node-wide notice of an execution's status change (executions started on this node). */
export type StatusListener = (executionId: string, status: ExecutionStatus) => void

/** The seam between the server and wherever executions run and their logs live. */
export interface Broker {
  /** A short name for health reports ('memory', 'redis'). */
  readonly kind: string
  /** Starts `flow` on this node with an already validated input; resolves once it runs. */
  start(flow: TriggerFlow<any>, input: unknown, options: StartOptions): Promise<ExecutionInfo>
  /** The execution's snapshot, or undefined when it is unknown or evicted. */
  info(executionId: string): Promise<ExecutionInfo | undefined>
  /** Waits up to `waitMs` for the outcome; undefined when the execution is unknown. */
  result(executionId: string, waitMs: number): Promise<ExecutionOutcome | undefined>
  /** Up to `limit` entries after seq `after`; undefined when the execution is unknown. */
  read(executionId: string, after: number, limit: number): Promise<BrokerRead | undefined>
  /**
   * A synchronous local follower of the execution's log; undefined when it is unknown. `after`:
   * the first reader's cursor (a remote copy needs to hold only what comes after it; default 0).
   */
  follow(executionId: string, after?: number): Promise<Follower | undefined>
  /** Sends a command to wherever the execution runs. Throws FlowcastError (not_found, interrupt_*). */
  command(executionId: string, command: BrokerCommand): Promise<CommandOutcome>
  /** Status changes of the executions this node started. Returns the remover. */
  onStatus(listener: StatusListener): () => void
  /**
   * Ends an execution running on this node as failed with `error` (a drain that ran out of time);
   * false when it does not run here or has ended.
   */
  terminate(executionId: string, error: FlowcastError): boolean
  /**
   * Gives an execution running here to another node (a drain): its checkpoint stays, this node
   * stops its copy without a word, and a node that has the flow resumes it. Absent on brokers
   * that cannot (memory); false when it does not run here or could not be given up.
   */
  handOver?(executionId: string): Promise<boolean>
  /** The node drains: it takes no more executions from other nodes (claims). Optional. */
  drain?(): void
  /** Unfinished executions no node holds whose flow this node does not have (last look). */
  unclaimable?(): number
  /** Forgets a finished execution, its log and its result. */
  evict(executionId: string): Promise<void>
  /** Runtime-stream bytes (encoded JSON) this node holds in memory for executions' logs. */
  retainedBytes(): number
  /** Whether the broker can serve (a remote store may be down). */
  health(): Promise<{ ok: boolean; detail?: string }>
  /** Cancels what runs here and releases every resource. */
  close(): Promise<void>
}
