/**
 * The embedded default broker: executions run in this process and their logs are the engine's
 * own RuntimeStreamLogs, so a follower is a thin synchronous view on the log itself.
 */

import type {
  Execution,
  ExecutionSnapshot,
  LogEntry,
  LogListener,
  RetentionBudget,
  TriggerFlow,
} from '@flowcast/flows'
import { type ExecutionStatus, FlowcastError, isTerminal } from '@flowcast/protocol'
import type {
  Broker,
  BrokerCommand,
  BrokerRead,
  CommandOutcome,
  ExecutionInfo,
  ExecutionOutcome,
  Follower,
  FollowerListener,
  StartOptions,
  StatusListener,
  StreamClose,
} from './broker.ts'
import { cancelledError, errorShape } from './error-shape.ts'

/** The IDs of executions handed to another node: their local copy tells nobody here anything. */
type MutedIds = ReadonlySet<string>

const NONE_MUTED: MutedIds = new Set()

/**
 * Hands an execution's appends and its close to a follower's listener, unless the execution is
 * muted. An object with its methods on the prototype rather than closures: per append that is one
 * object read, where two closures and their contexts were four, all cold when a thousand
 * executions each get an item in turn.
 */
class LogRelay implements LogListener<unknown> {
  readonly #listener: FollowerListener
  readonly #muted: MutedIds
  readonly #executionId: string

  constructor(listener: FollowerListener, muted: MutedIds, executionId: string) {
    this.#listener = listener
    this.#muted = muted
    this.#executionId = executionId
  }

  /** True once the execution was handed over (nothing is muted but on a node handing executions over). */
  get muted(): boolean {
    return this.#muted.size > 0 && this.#muted.has(this.#executionId)
  }

  /** Passes an append on, unless the execution is muted. */
  onAppend(entry: LogEntry<unknown>): void {
    if (!this.muted) this.#listener.onAppend?.(entry)
  }

  /** Passes the stream's close on, unless the execution is muted. */
  onClose(close: StreamClose): void {
    if (!this.muted) this.#listener.onClose?.(close)
  }
}

/** A synchronous view on an in-process execution's log and status. */
class MemoryFollower implements Follower {
  readonly #exec: Execution<any, any, any>
  readonly #removers = new Set<() => void>()
  readonly #goneListeners = new Set<() => void>()
  readonly #onRelease: ((f: MemoryFollower) => void) | undefined
  readonly #muted: MutedIds

  constructor(exec: Execution<any, any, any>, onRelease?: (f: MemoryFollower) => void, muted = NONE_MUTED) {
    this.#exec = exec
    this.#onRelease = onRelease
    this.#muted = muted
  }

  /** The broker evicted the execution: tells every listener, once. */
  gone(): void {
    for (const l of [...this.#goneListeners]) l()
    this.release()
  }

  get executionId(): string {
    return this.#exec.id
  }
  get status(): ExecutionStatus {
    return this.#exec.getStatus()
  }
  get lastSeq(): number {
    return this.#exec.runtimeStream.lastSeq
  }
  get streamClose(): StreamClose | undefined {
    return this.#exec.runtimeStream.streamClose
  }

  read(after: number, limit: number): BrokerRead {
    const r = this.#exec.runtimeStream.read(after, limit)
    // A log entry is a broker entry (seq and JSON): handed on as it is, not copied.
    const out: BrokerRead = { entries: r.entries }
    if (r.gap) out.gap = { from: r.gap.from, to: r.gap.to }
    return out
  }

  listen(listener: FollowerListener): () => void {
    // A muted execution (handed to another node) tells nobody here what its stopped copy does.
    const relay = new LogRelay(listener, this.#muted, this.#exec.id)
    const offLog = this.#exec.runtimeStream.listen(relay)
    const offStatus = listener.onStatus
      ? this.#exec.onStatusChange((s) => relay.muted || listener.onStatus!(s))
      : () => undefined
    const onGone = listener.onGone?.bind(listener)
    if (onGone) this.#goneListeners.add(onGone)
    const remove = () => {
      offLog()
      offStatus()
      if (onGone) this.#goneListeners.delete(onGone)
      this.#removers.delete(remove)
    }
    this.#removers.add(remove)
    return remove
  }

  release(): void {
    for (const remove of [...this.#removers]) remove()
    this.#onRelease?.(this)
  }
}

/** Options of a MemoryBroker. */
export interface MemoryBrokerOptions {
  /** The node's bound on retained stream bytes, shared by every execution's log; default none. */
  budget?: RetentionBudget
}

/** Runs executions in this process; the default broker. */
export class MemoryBroker implements Broker {
  readonly kind = 'memory'
  readonly #budget: RetentionBudget | undefined
  readonly #executions = new Map<string, Execution<any, any, any>>()
  /** The followers of each execution, told when it is evicted. */
  readonly #followers = new Map<string, Set<MemoryFollower>>()
  readonly #statusListeners = new Set<StatusListener>()
  /** Executions handed to another node: their local copy is stopped without a word. */
  readonly #muted = new Set<string>()
  #closed = false

  constructor(options: MemoryBrokerOptions = {}) {
    this.#budget = options.budget
  }

  async start(flow: TriggerFlow<any>, input: unknown, options: StartOptions): Promise<ExecutionInfo> {
    const exec = this.#create(flow, options)
    try {
      await exec.start(input)
    } catch (err) {
      this.#discard(exec)
      throw err
    }
    return this.#info(exec)
  }

  /**
   * Runs `flow` here from a saved snapshot (an execution another node checkpointed): steps that
   * were running run again, waiting interrupts wait here. Throws `invalid_snapshot` when the
   * snapshot does not fit the flow; nothing is registered then.
   */
  resume(flow: TriggerFlow<any>, snapshot: ExecutionSnapshot, options: StartOptions): ExecutionInfo {
    // Registered first: the status the load sets is told like any other (the registry holds it).
    const exec = this.#create(flow, options, snapshot.executionId)
    try {
      exec.load(snapshot)
    } catch (err) {
      this.#discard(exec)
      throw err
    }
    return this.#info(exec)
  }

  /** A new execution of `flow` (with the given id, for a resume), registered here before it runs. */
  #create(flow: TriggerFlow<any>, options: StartOptions, id?: string): Execution<any, any, any> {
    if (this.#closed) throw new FlowcastError('broker_unavailable', 'the broker is closed')
    // A server's execution closes as soon as nothing is pending (TriggerFlow's one-call start),
    // so a finished chain reports completed at once, unless the flow asks to stay open.
    const stayOpen =
      flow.executionDefaults.autoCloseTimeout !== undefined || flow.executionDefaults.autoClose !== undefined
    const exec = flow.createExecution({
      ...(id === undefined ? {} : { id }),
      retention: options.retention,
      ...(this.#budget ? { retentionBudget: this.#budget } : {}),
      ...(options.maxItemBytes === undefined ? {} : { maxItemBytes: options.maxItemBytes }),
      ...(stayOpen ? {} : { autoCloseTimeout: 0 }),
      ...(options.aroundChunk ? { aroundChunk: options.aroundChunk } : {}),
    })
    this.#register(exec)
    return exec
  }

  /** Forgets an execution whose start or load threw: it never ran here. */
  #discard(exec: Execution<any, any, any>): void {
    this.#executions.delete(exec.id)
    exec.runtimeStream.release()
  }

  /** The saved form of a local execution; undefined when it is unknown. Throws what `save` throws. */
  save(executionId: string): ExecutionSnapshot | undefined {
    return this.#executions.get(executionId)?.save()
  }

  /** Calls `listener` at each step boundary of a local execution (see Execution.onCheckpoint). */
  onCheckpoint(executionId: string, listener: () => void): () => void {
    return this.#executions.get(executionId)?.onCheckpoint(listener) ?? (() => undefined)
  }

  /**
   * From now on nothing this execution's local copy does reaches a follower or a status
   * listener: it was handed to another node, and is stopped with `abandon` once Redis says so.
   */
  mute(executionId: string): void {
    if (this.#executions.has(executionId)) this.#muted.add(executionId)
  }

  async info(executionId: string): Promise<ExecutionInfo | undefined> {
    const exec = this.#executions.get(executionId)
    return exec ? this.#info(exec) : undefined
  }

  async result(executionId: string, waitMs: number): Promise<ExecutionOutcome | undefined> {
    const exec = this.#executions.get(executionId)
    if (!exec) return undefined
    if (!isTerminal(exec.getStatus()) && waitMs > 0) {
      await new Promise<void>((resolve) => {
        const timer = setTimeout(done, waitMs)
        const off = exec.onStatusChange((s) => {
          if (isTerminal(s)) done()
        })
        const offClose = this.#onClose(done)
        function done() {
          clearTimeout(timer)
          off()
          offClose()
          resolve()
        }
      })
    }
    return outcome(exec)
  }

  async read(executionId: string, after: number, limit: number): Promise<BrokerRead | undefined> {
    const exec = this.#executions.get(executionId)
    return exec ? new MemoryFollower(exec).read(after, limit) : undefined
  }

  async follow(executionId: string): Promise<Follower | undefined> {
    const exec = this.#executions.get(executionId)
    if (!exec) return undefined
    const followers = this.#followers.get(executionId) ?? new Set<MemoryFollower>()
    this.#followers.set(executionId, followers)
    const follower = new MemoryFollower(
      exec,
      (f) => {
        followers.delete(f)
        if (followers.size === 0 && this.#followers.get(executionId) === followers)
          this.#followers.delete(executionId)
      },
      this.#muted,
    )
    followers.add(follower)
    return follower
  }

  async command(executionId: string, command: BrokerCommand): Promise<CommandOutcome> {
    const exec = this.#executions.get(executionId)
    if (!exec) throw new FlowcastError('not_found', `no execution "${executionId}"`)
    if (command.type === 'stop_stream') {
      return exec.stopStream(command.by) ? { stopped: true } : { alreadyStopped: true }
    }
    if (command.type === 'cancel') {
      return exec.cancel(`cancelled by ${command.by}`) ? { cancelled: true } : { alreadyEnded: true }
    }
    // continueWith checks and throws before its first await; it resolves once the resume is
    // dispatched (for resumeTo 'self', once the chunk ran again): report the checks' verdict
    // without waiting for that chunk.
    let failure: unknown
    let settled = false
    exec.continueWith(command.interruptId, command.value).then(
      () => {
        settled = true
      },
      (err) => {
        settled = true
        failure = err
      },
    )
    await new Promise<void>((resolve) => setImmediate(resolve))
    if (settled && failure !== undefined) throw failure
    return { continued: true }
  }

  onStatus(listener: StatusListener): () => void {
    this.#statusListeners.add(listener)
    return () => this.#statusListeners.delete(listener)
  }

  async evict(executionId: string): Promise<void> {
    const exec = this.#executions.get(executionId)
    if (!exec) return
    this.#executions.delete(executionId)
    if (!isTerminal(exec.getStatus())) exec.cancel('closed')
    // Its memory goes now, not when the last reader lets go of the execution.
    exec.runtimeStream.release()
    // Rooms holding the execution end now: nothing may serve a log HTTP already calls gone.
    for (const f of [...(this.#followers.get(executionId) ?? [])]) f.gone()
    this.#followers.delete(executionId)
  }

  terminate(executionId: string, error: FlowcastError): boolean {
    return this.#executions.get(executionId)?.terminate(error) ?? false
  }

  /**
   * Fails a running execution with `error` and forgets it: another node has already ended it
   * (a Redis node whose lease had passed), so this copy must neither run on nor answer for it.
   */
  abandon(executionId: string, error: FlowcastError): void {
    const exec = this.#executions.get(executionId)
    if (!exec) return
    this.#executions.delete(executionId)
    exec.terminate(error)
    exec.runtimeStream.release()
    this.#muted.delete(executionId)
  }

  retainedBytes(): number {
    // With a budget, O(1); it counts every log it bounds (with Redis, the caches of remote logs too).
    if (this.#budget) return this.#budget.bytes
    let n = 0
    for (const exec of this.#executions.values()) n += exec.runtimeStream.retainedBytes
    return n
  }

  async health(): Promise<{ ok: boolean; detail?: string }> {
    return this.#closed ? { ok: false, detail: 'closed' } : { ok: true }
  }

  async close(): Promise<void> {
    if (this.#closed) return
    this.#closed = true
    for (const l of [...this.#closeWaiters]) l()
    for (const exec of this.#executions.values()) {
      if (!isTerminal(exec.getStatus())) exec.cancel('closed')
    }
    this.#executions.clear()
    this.#statusListeners.clear()
  }

  #register(exec: Execution<any, any, any>): void {
    this.#executions.set(exec.id, exec)
    exec.onStatusChange(this.#relayStatus)
  }

  /**
   * Every execution's one status listener, told which execution changed: one function for all
   * rather than a closure (and its context) per execution, kept as long as the execution is.
   */
  readonly #relayStatus = (status: ExecutionStatus, exec: Execution<any, any, any>): void => {
    if (this.#muted.size > 0 && this.#muted.has(exec.id)) return
    for (const l of this.#statusListeners) l(exec.id, status)
  }

  readonly #closeWaiters = new Set<() => void>()
  #onClose(fn: () => void): () => void {
    this.#closeWaiters.add(fn)
    return () => this.#closeWaiters.delete(fn)
  }

  #info(exec: Execution<any, any, any>): ExecutionInfo {
    const log = exec.runtimeStream
    const status = exec.getStatus()
    const info: ExecutionInfo = {
      executionId: exec.id,
      flow: exec.flow.name,
      status,
      streamOpen: !log.closed,
      lastSeq: log.lastSeq,
      firstSeq: log.firstSeq,
      createdAt: exec.createdAt,
      pendingInterrupts: exec.getPendingInterrupts().map((i) => ({
        id: i.id,
        type: i.type,
        ...(i.payload === undefined ? {} : { payload: i.payload }),
      })),
    }
    if (log.streamClose) info.streamClose = log.streamClose
    if (exec.endedAt !== undefined) info.endedAt = exec.endedAt
    if (status === 'failed') info.error = errorShape(exec.getError())
    if (status === 'cancelled') info.error = cancelledError(exec.id)
    return info
  }
}

async function outcome(exec: Execution<any, any, any>): Promise<ExecutionOutcome> {
  const status = exec.getStatus()
  switch (status) {
    case 'completed':
      // Settled already: this await takes a microtask, not a wait.
      return { status, result: await exec.getResult() }
    case 'failed':
      return { status, error: errorShape(exec.getError()) }
    case 'cancelled':
      return { status, error: cancelledError(exec.id) }
    default:
      return { status }
  }
}
