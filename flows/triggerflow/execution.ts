/**
 * One run of a flow, as TriggerFlow 4.1 runs it: a signal graph. A trigger (START, an event, a
 * chunk's output, a collection, a state change) runs the nodes that listen to it; each node's
 * output runs the nodes after it, so two `.to(...)` on one position are parallel branches. A pause
 * parks its branch (nothing holds a Promise open) until `continueWith` resumes it. The execution
 * is open (accepts `emit`, also before `start`), can be sealed, and closes on `close()` (drains,
 * closes the stream, returns the close snapshot) or when idle for `autoCloseTimeout` ms. Joins,
 * collections and blocks are scoped to the run that fed them. Everything needed to continue
 * elsewhere is plain data, so `save()` and `load()` move an execution between processes.
 */

import {
  type ExecutionStatus,
  FlowcastError,
  isFlowcastError,
  isTerminal,
  type TerminalStatus,
} from '@flowcast/protocol'
import { nanoid } from 'nanoid'
import { checkContract } from './contract.ts'
import type { CompiledGraph, FlowDefinition, GraphNode, SubFlowOptions } from './graph.ts'
import { blockOutput, slotEntry } from './internal/blocks.ts'
import { copyData } from './internal/copy-data.ts'
import { Group } from './internal/group.ts'
import type { ChunkHost, StreamPort } from './internal/host.ts'
import { LazyAbort } from './internal/lazy-abort.ts'
import { deepEqual, holds } from './internal/match.ts'
import { Permits } from './internal/permits.ts'
import { resolveWriteBack } from './internal/write-back.ts'
import {
  type InterruptInfo,
  isPauseSignal,
  type PauseOptions,
  type PauseSignal,
  pauseSignal,
  type ResumeInfo,
  type ResumeTo,
} from './interrupt.ts'
import type { Retention } from './retention.ts'
import type { RetentionBudget } from './retention-budget.ts'
import { RuntimeData } from './runtime-data.ts'
import {
  checkSnapshot,
  type ExecutionSnapshot,
  type Frame,
  type SavedInterrupt,
  type SavedInvocation,
  type SavedRun,
  SNAPSHOT_KIND,
  SNAPSHOT_VERSION,
  type Trigger,
  toJson,
} from './snapshot.ts'
import { type DataStore, StateStore } from './state.ts'
import { RuntimeStreamLog, type StreamEnvelope, type StreamGap } from './stream-log.ts'

export { type ExecutionStatus, isTerminal } from '@flowcast/protocol'
export type { InterruptInfo } from './interrupt.ts'

export interface ExecutionOptions {
  /** Execution id; a random one when absent. */
  id?: string
  /** Bounds of the retained runtime stream (defaults: DEFAULT_RETENTION). */
  retention?: Partial<Retention>
  /**
   * A bound shared with other executions' logs (a server node's); over it, closed logs go first,
   * then the oldest entries of open ones. Default: none. Child flows' own logs are not counted:
   * what they bridge is, in the parent's log.
   */
  retentionBudget?: RetentionBudget
  /**
   * Largest stream item (its encoded envelope, in bytes) `putIntoStream` accepts; a bigger one is
   * refused with FlowcastError('item_too_large') and the flow may carry on. Default: no bound.
   */
  maxItemBytes?: number
  /** Close by itself once idle for `autoCloseTimeout` ms (default true). */
  autoClose?: boolean
  /**
   * Milliseconds of idleness (nothing running, no interrupt waiting) before an auto-close; `0`
   * closes as soon as nothing is pending, `null` never. Default 10 000, as in TriggerFlow.
   */
  autoCloseTimeout?: number | null
  /** Most chunk handlers running at once in this execution, nested dispatch included (default: no bound). */
  concurrency?: number
  /**
   * Wraps every chunk run of this execution and of its child flows (a server traces each chunk
   * with it); it must call `run` once and settle as `run` does. Default: the chunk runs as is.
   */
  aroundChunk?: ChunkRunner
}

/** Which chunk is about to run: `executionId` is the top-level execution's, also in child flows. */
export interface ChunkRun {
  readonly executionId: string
  readonly flow: string
  readonly chunk: string
}

/** A wrapper around each chunk run (ExecutionOptions.aroundChunk). */
export type ChunkRunner = <T>(chunk: ChunkRun, run: () => Promise<T>) => Promise<T>

/** Default idle time before an execution closes by itself, as in TriggerFlow 4.1. */
export const DEFAULT_AUTO_CLOSE_TIMEOUT_MS = 10_000

export interface StreamReadOptions {
  /** Milliseconds to wait for the NEXT item; `null` waits until the stream closes. */
  timeout?: number | null
  /** Start after this seq (0 = from the earliest retained item). */
  since?: number
}

export interface CloseOptions {
  /** `'reject'` (default) refuses to close while interrupts wait; `'cancel'` cancels them (status cancelled). */
  pendingInterrupts?: 'reject' | 'cancel'
  /** Most milliseconds to wait for running work; then it is cancelled and close rejects with `timeout`. */
  timeout?: number
}

/** Default wait for the next stream item, as in TriggerFlow: long enough for slow steps, never forever. */
export const DEFAULT_STREAM_TIMEOUT_MS = 10_000

export type Lifecycle = 'open' | 'sealed' | 'closed'

type StatusListener = (status: ExecutionStatus, execution: Execution<any, any, any>) => void
type AnyExecution = Execution<any, any, any>

/** How a child execution is tied to its parent. */
interface ParentLink {
  parent: AnyExecution
  /** Put the child's items into the parent's stream. */
  bridgeStream: boolean
}

interface InterruptRecord {
  info: InterruptInfo
  answer?: PauseOptions['answer']
  at?: NonNullable<SavedInterrupt['at']>
}

interface SubFlowFrame {
  frameId: string
  nodeId: string
  frame: Frame
  child: AnyExecution
  options: SubFlowOptions
  /** Root interrupt id -> the child's own interrupt id. */
  projected: Map<string, string>
}

/**
 * What an execution's rarely used maps and sets read as until their first write: most server
 * executions never bind, join, collect, pause, checkpoint or start a child, and the seven made
 * eagerly per execution were a third of what a finished one kept on the heap (issue 18). Never
 * written: writes go through each field's `ForWrite()`.
 */
const NO_MAP: ReadonlyMap<any, any> = new Map()
const NO_SET: ReadonlySet<any> = new Set()

/** A running (or finished) instance of a TriggerFlow. */
export class Execution<I = unknown, S = unknown, R = unknown> {
  readonly id: string
  readonly flow: FlowDefinition
  readonly createdAt = Date.now()
  endedAt: number | undefined
  /** Errors a `skipExceptions` flow swallowed, with the chunk that threw them. */
  readonly skippedErrors: { chunk: string; error: unknown }[] = []

  readonly #graph: CompiledGraph
  readonly #log: RuntimeStreamLog<S>
  readonly #maxItemBytes: number | undefined
  readonly #abort = new LazyAbort()
  readonly #parent: ParentLink | undefined
  readonly #aroundChunk: ChunkRunner | undefined
  /** The top-level execution's id (this one's, unless this is a child flow's). */
  readonly #rootId: string
  readonly #state: StateStore
  /** The flow's shared data as this execution sees it, made on a chunk's first `data.flowData`. */
  #flowDataOwn: DataStore | undefined
  readonly #statusListeners = new Set<StatusListener>()
  #checkpointListenersOwn: Set<() => void> | undefined
  get #checkpointListeners(): ReadonlySet<() => void> {
    return this.#checkpointListenersOwn ?? NO_SET
  }
  #checkpointListenersForWrite(): Set<() => void> {
    this.#checkpointListenersOwn ??= new Set()
    return this.#checkpointListenersOwn
  }
  readonly #autoClose: boolean
  readonly #autoCloseTimeout: number | null
  #status: ExecutionStatus = 'created'
  #lifecycle: Lifecycle = 'open'
  #input: unknown
  #started: Promise<void> | undefined
  #active = false
  #pending = 0
  #drainWaiters: (() => void)[] = []
  #idleTimer: ReturnType<typeof setTimeout> | undefined
  #closing: Promise<Record<string, unknown>> | undefined
  #closeSnapshot: Record<string, unknown> | undefined
  #explicitResult: { value: unknown } | undefined
  #error: unknown
  #failure: FlowcastError | undefined
  #resultSettled = false
  readonly #result: Promise<R>
  /** The result's resolvers, until it settles (then let go, with the closures they hold). */
  #settle: { resolve(v: R): void; reject(e: unknown): void } | undefined
  #counter = 0
  readonly #permits: Permits
  #interruptsOwn: Map<string, InterruptRecord> | undefined
  get #interrupts(): ReadonlyMap<string, InterruptRecord> {
    return this.#interruptsOwn ?? NO_MAP
  }
  #interruptsForWrite(): Map<string, InterruptRecord> {
    this.#interruptsOwn ??= new Map()
    return this.#interruptsOwn
  }
  #joinsOwn: Map<string, Map<string, unknown>> | undefined
  get #joins(): ReadonlyMap<string, Map<string, unknown>> {
    return this.#joinsOwn ?? NO_MAP
  }
  #joinsForWrite(): Map<string, Map<string, unknown>> {
    this.#joinsOwn ??= new Map()
    return this.#joinsOwn
  }
  #collectedOwn: Map<string, Record<string, unknown>> | undefined
  get #collected(): ReadonlyMap<string, Record<string, unknown>> {
    return this.#collectedOwn ?? NO_MAP
  }
  #collectedForWrite(): Map<string, Record<string, unknown>> {
    this.#collectedOwn ??= new Map()
    return this.#collectedOwn
  }
  #invocationsOwn: Map<string, SavedInvocation> | undefined
  get #invocations(): ReadonlyMap<string, SavedInvocation> {
    return this.#invocationsOwn ?? NO_MAP
  }
  #invocationsForWrite(): Map<string, SavedInvocation> {
    this.#invocationsOwn ??= new Map()
    return this.#invocationsOwn
  }
  /** The runs in flight; let go once the execution ends with none (a finished one keeps no map). */
  #runningOwn: Map<number, SavedRun> | undefined
  get #running(): ReadonlyMap<number, SavedRun> {
    return this.#runningOwn ?? NO_MAP
  }
  #runIds = 0
  #subFlowsOwn: Map<string, SubFlowFrame> | undefined
  get #subFlows(): ReadonlyMap<string, SubFlowFrame> {
    return this.#subFlowsOwn ?? NO_MAP
  }
  #subFlowsForWrite(): Map<string, SubFlowFrame> {
    this.#subFlowsOwn ??= new Map()
    return this.#subFlowsOwn
  }
  #bindingsOwn: Map<string, { trigger: string; node: Extract<GraphNode, { kind: 'chunk' }> }> | undefined
  get #bindings(): ReadonlyMap<string, { trigger: string; node: Extract<GraphNode, { kind: 'chunk' }> }> {
    return this.#bindingsOwn ?? NO_MAP
  }
  #bindingsForWrite(): Map<string, { trigger: string; node: Extract<GraphNode, { kind: 'chunk' }> }> {
    this.#bindingsOwn ??= new Map()
    return this.#bindingsOwn
  }

  /** Use `flow.createExecution(options)`; `parent` is the engine's own, for child flows. */
  constructor(flow: FlowDefinition, options: ExecutionOptions = {}, parent?: ParentLink) {
    this.flow = flow
    this.id = options.id ?? nanoid()
    this.#graph = flow.compile()
    this.#parent = parent
    this.#aroundChunk = parent ? parent.parent.#aroundChunk : options.aroundChunk
    this.#rootId = parent ? parent.parent.#rootId : this.id
    this.#autoClose = options.autoClose ?? true
    this.#autoCloseTimeout =
      options.autoCloseTimeout === undefined ? DEFAULT_AUTO_CLOSE_TIMEOUT_MS : options.autoCloseTimeout
    this.#permits = new Permits(options.concurrency)
    this.#state = new StateStore((path, value) => this.#onDataChange(`state:${path}`, value))
    this.#log = new RuntimeStreamLog<S>(options.retention, options.retentionBudget)
    this.#maxItemBytes = options.maxItemBytes
    this.#result = new Promise<R>((resolve, reject) => {
      this.#settle = { resolve, reject }
    })
    // Nobody may ever ask for the result; its rejection must not surface as unhandled.
    this.#result.catch(() => {})
    if (parent?.bridgeStream) {
      const source = flow.name
      this.#log.listen({
        onAppend: (entry) => {
          const nested = entry.envelope.source
          parent.parent.#log.append(entry.envelope.data, nested ? `${source}/${nested}` : source)
        },
      })
    }
  }

  // ---- lifecycle -------------------------------------------------------------------------------

  /** Starts the execution with `input`; resolves once it runs, not when it finishes. */
  start(input?: I): Promise<void> {
    if (this.#started)
      return Promise.reject(new FlowcastError('already_started', `execution ${this.id} has already started`))
    if (isTerminal(this.#status) || this.#lifecycle !== 'open')
      return Promise.reject(
        new FlowcastError('invalid_state', `execution ${this.id} is ${this.#status}: cannot start`),
      )
    const started = this.#begin(input)
    this.#started = started
    // An input the contract refuses never ran anything: leave the execution startable again.
    started.catch(() => {
      if (this.#started === started) this.#started = undefined
    })
    return started
  }

  /** True once `start` (or a stream read, or a load) has started it. */
  get started(): boolean {
    return this.#started !== undefined
  }

  /** `open` (accepts events), `sealed` (drains what it accepted) or `closed`. */
  get lifecycle(): Lifecycle {
    return this.#lifecycle
  }

  /** Stops accepting outside `emit` and `continueWith`; work already accepted goes on. */
  seal(): void {
    if (this.#lifecycle === 'open') this.#lifecycle = 'sealed'
  }

  /**
   * Seals, waits for running work, closes the stream and returns the close snapshot (the state,
   * with `$final_result` when a result was set). Refuses while interrupts wait, unless told to
   * cancel them. Calling it again returns the same snapshot.
   */
  close(options: CloseOptions = {}): Promise<Record<string, unknown>> {
    if (this.#closeSnapshot) return Promise.resolve(this.#closeSnapshot)
    if (isTerminal(this.#status)) return Promise.resolve(this.#snapshotForClose())
    if (this.#closing) return this.#closing
    if (this.#hasWaiting()) {
      if (options.pendingInterrupts !== 'cancel') {
        return Promise.reject(
          new FlowcastError(
            'invalid_state',
            `execution ${this.id}: pending interrupts are waiting (${this.getPendingInterrupts()
              .map((i) => i.id)
              .join(', ')}); answer them or close with pendingInterrupts: 'cancel'`,
          ),
        )
      }
      this.cancel('closed with pending interrupts')
      return Promise.resolve(this.#snapshotForClose())
    }
    this.seal()
    const closing = this.#drain(options.timeout).then(() => {
      if (this.#closeSnapshot) return this.#closeSnapshot
      if (this.#failure) throw this.#failure
      if (isTerminal(this.#status)) return this.#snapshotForClose()
      if (this.#hasWaiting()) {
        this.#closing = undefined
        throw new FlowcastError(
          'invalid_state',
          `execution ${this.id}: an interrupt started waiting while closing`,
        )
      }
      this.#complete()
      if (this.#failure) throw this.#failure
      return this.#closeSnapshot ?? this.#snapshotForClose()
    })
    this.#closing = closing
    closing.catch(() => {})
    return closing
  }

  /** Cancels the execution: aborts `data.signal`, cancels waiting interrupts, status cancelled, stream closed. */
  cancel(reason = 'cancelled'): boolean {
    if (isTerminal(this.#status)) return false
    const err = new FlowcastError('execution_cancelled', `execution ${this.id} was cancelled: ${reason}`)
    this.#cancelInterrupts()
    this.#finish('cancelled', err)
    for (const sub of this.#subFlows.values()) sub.child.cancel(reason)
    return true
  }

  /**
   * Ends a running execution as failed with `error` as its error, from outside the flow: aborts
   * `data.signal`, closes the stream with reason `failed`, cancels running children. A server
   * uses it to end its copy of an execution that another node has taken over (`node_lost`).
   * Returns false when the execution had already ended.
   */
  terminate(error: FlowcastError): boolean {
    if (isTerminal(this.#status)) return false
    this.#fail(error)
    return true
  }

  /** Stops the runtime stream, not the execution; returns false when it was already closed. */
  stopStream(by = 'flow'): boolean {
    return this.#log.close('stopped', by)
  }

  // ---- reading -----------------------------------------------------------------------------

  getStatus(): ExecutionStatus {
    return this.#status
  }

  /** A deep copy of the state, or of the value at dot path `path`. */
  getState(path?: string): any {
    if (path === undefined) return this.#state.snapshot()
    const v = this.#state.get(path)
    return v === undefined ? undefined : copyData(v)
  }

  /** The error a failed execution failed with (the flow's own error), if any. */
  getError(): unknown {
    return this.#error
  }

  /** The input the execution was started with. */
  get input(): unknown {
    return this.#input
  }

  /** Aborted when the execution is cancelled or fails. */
  get signal(): AbortSignal {
    return this.#abort.signal
  }

  /** The retained runtime stream log (for servers that follow it without async iterators). */
  get runtimeStream(): RuntimeStreamLog<S> {
    return this.#log
  }

  /** The interrupts waiting for an answer (a child flow's appear under root-level ids). */
  getPendingInterrupts(): InterruptInfo[] {
    return [...this.#interrupts.values()]
      .filter((r) => r.info.status === 'waiting')
      .map((r) => ({ ...r.info }))
  }

  /** Every interrupt this execution raised, with its history (waiting, resumed or cancelled). */
  getInterrupts(): InterruptInfo[] {
    return [...this.#interrupts.values()].map((r) => ({ ...r.info }))
  }

  /** One interrupt by id, whatever its status; undefined when unknown. */
  getInterrupt(id: string): InterruptInfo | undefined {
    const r = this.#interrupts.get(id)
    return r ? { ...r.info } : undefined
  }

  /**
   * Waits for the result, settled when the execution closes: what `.end()` or `data.setResult`
   * wrote, or else the close snapshot. Rejects with code `timeout` when
   * `timeout` ms pass first, `execution_failed` (the flow's error as `cause`) or `execution_cancelled`.
   */
  getResult(options: { timeout?: number | null } = {}): Promise<R> {
    const timeout = options.timeout ?? null
    if (timeout === null || this.#resultSettled) return this.#result
    return new Promise<R>((resolve, reject) => {
      const timer = setTimeout(
        () =>
          reject(new FlowcastError('timeout', `no result from execution ${this.id} within ${timeout} ms`)),
        timeout,
      )
      this.#result.then(
        (v) => {
          clearTimeout(timer)
          resolve(v)
        },
        (e) => {
          clearTimeout(timer)
          reject(e)
        },
      )
    })
  }

  /**
   * The runtime stream's items exactly as they were put. Starts the execution with `input` on
   * the first iteration if it has not started. `timeout` bounds the wait for the next item. A
   * failed execution's stream is read to its end, then the failure is thrown.
   */
  async *getRuntimeStream(input?: I, options: StreamReadOptions = {}): AsyncGenerator<S, void, undefined> {
    for await (const ev of this.getRuntimeStreamEvents(input, options)) {
      if ('seq' in ev) yield ev.data
    }
  }

  /** Like getRuntimeStream, but yields envelopes `{ seq, ts, source?, data }` and explicit gaps. */
  async *getRuntimeStreamEvents(
    input?: I,
    options: StreamReadOptions = {},
  ): AsyncGenerator<StreamEnvelope<S> | StreamGap, void, undefined> {
    const { since } = options
    if (since !== undefined && !(Number.isSafeInteger(since) && since >= 0)) {
      throw new FlowcastError('invalid_since', `since must be a whole seq >= 0, got ${String(since)}`)
    }
    if (!this.#started && this.#status === 'created') await this.start(input as I)
    const timeout = options.timeout === undefined ? DEFAULT_STREAM_TIMEOUT_MS : options.timeout
    let cursor = since ?? 0
    for (;;) {
      const { gap, entries } = this.#log.read(cursor, 256)
      if (gap) {
        yield gap
        cursor = gap.to
      }
      for (const entry of entries) {
        cursor = entry.envelope.seq
        yield entry.envelope
      }
      if (entries.length > 0 || gap) continue
      if (this.#log.closed) {
        if (this.#log.streamClose?.reason === 'failed' && this.#failure) throw this.#failure
        return
      }
      if ((await this.#log.waitAfter(cursor, timeout)) === 'timeout') return
    }
  }

  /**
   * Calls `listener` at every step boundary (a step starts or ends, an interrupt waits or is
   * answered, the execution ends): the moments when `save()` has something new. A store batches
   * these (one save per tick), as the Redis broker's writer does with events.
   */
  onCheckpoint(listener: () => void): () => void {
    this.#checkpointListenersForWrite().add(listener)
    return () => this.#checkpointListenersOwn?.delete(listener)
  }

  /** Calls `listener` on every status change; returns its remover. */
  onStatusChange(listener: StatusListener): () => void {
    this.#statusListeners.add(listener)
    return () => this.#statusListeners.delete(listener)
  }

  // ---- input from outside ------------------------------------------------------------------

  /**
   * Emits an event to the `when` handlers (also before `start`, while the execution is open);
   * resolves when the handlers it triggered have settled, rejects with the first one's error.
   */
  emit(event: string, value?: unknown): Promise<void> {
    if (this.#lifecycle !== 'open' || isTerminal(this.#status)) {
      return Promise.reject(
        new FlowcastError(
          'invalid_state',
          `execution ${this.id} is ${isTerminal(this.#status) ? this.#status : this.#lifecycle}: cannot emit "${event}"`,
        ),
      )
    }
    this.#activate()
    const group = new Group()
    this.#fireEvent(event, value, undefined, group)
    this.#checkIdle()
    return group.settled()
  }

  /** Fires `event` without waiting for its handlers. */
  emitNowait(event: string, value?: unknown): void {
    this.emit(event, value).catch(() => {})
  }

  /**
   * Adds a handler for `event` to this execution only (the flow stays as it is); returns its
   * binding id, for `off`. Live handlers are not saved: bind them again after a `load`.
   */
  on(
    event: string,
    handler: (data: RuntimeData<any, S, R, any>) => unknown,
    options: { bindingId?: string } = {},
  ): string {
    const bindingId = options.bindingId ?? `binding_${++this.#counter}`
    this.#bindingsForWrite().set(bindingId, {
      trigger: `event:${event}`,
      node: {
        id: `on:${bindingId}`,
        kind: 'chunk',
        next: [],
        chunk: { kind: 'chunk', name: bindingId, handler },
      },
    })
    return bindingId
  }

  /** Removes a binding made with `on`; returns whether it existed. */
  off(bindingId: string): boolean {
    return this.#bindingsOwn?.delete(bindingId) ?? false
  }

  /**
   * Answers a waiting interrupt: puts the `resume` item into the stream and dispatches the
   * resume (`next`: the answer becomes the paused chunk's output; `self`: the chunk runs again,
   * awaited, so its error reaches the caller; an event: emitted with the answer). Returns once
   * the resume is dispatched, not when the work it starts has finished. With `resumeRequestId`,
   * a retry of the answer that already resumed the interrupt returns quietly (also after a load).
   */
  async continueWith(
    interruptId: string,
    value?: unknown,
    options: { resumeRequestId?: string } = {},
  ): Promise<void> {
    const record = this.#interrupts.get(interruptId)
    if (!record) {
      throw new FlowcastError(
        'interrupt_not_found',
        `execution ${this.id} has no waiting interrupt "${interruptId}"`,
      )
    }
    const requestId = options.resumeRequestId
    if (requestId !== undefined && record.info.resumeRequestId === requestId) {
      // A retried delivery of the answer that resumed it (a webhook sent twice, a second node):
      // nothing runs again; the same id with another answer is a conflict, never a second resume.
      let same = false
      try {
        same = deepEqual(record.answer ? record.answer.parse(value) : value, record.info.resumeValue)
      } catch {}
      if (same) return
      throw new FlowcastError(
        'interrupt_not_waiting',
        `interrupt "${interruptId}": conflicting resumeRequestId "${requestId}" (it resumed it with another answer)`,
      )
    }
    if (record.info.status !== 'waiting') {
      throw new FlowcastError(
        'interrupt_not_waiting',
        `interrupt "${interruptId}" is not waiting: it was ${record.info.status === 'resumed' ? 'already answered' : 'cancelled'}`,
      )
    }
    if (isTerminal(this.#status)) {
      throw new FlowcastError(
        'interrupt_not_waiting',
        `interrupt "${interruptId}" is not waiting: execution is ${this.#status}`,
      )
    }
    if (this.#lifecycle !== 'open') {
      throw new FlowcastError(
        'invalid_state',
        `execution ${this.id} is ${this.#lifecycle}: cannot continue "${interruptId}"`,
      )
    }
    const sub = record.info.subFlowFrameId ? this.#subFlows.get(record.info.subFlowFrameId) : undefined
    if (sub) {
      // A projected interrupt: the child checks and resumes its own; this one follows.
      await sub.child.continueWith(record.info.localInterruptId!, value)
      this.#markResumed(record, value, requestId)
      sub.projected.delete(interruptId)
      this.#spawn(new Group(), () => this.#awaitChild(sub))
      return
    }
    const answer = checkContract(
      record.answer,
      value,
      this.flow.name,
      `answer to interrupt "${interruptId}"`,
      'invalid_input',
    )
    this.#markResumed(record, answer, requestId)
    const at = record.at
    const resumeTo = record.info.resumeTo
    const group = new Group()
    if (typeof resumeTo === 'object') {
      this.#fireEvent(resumeTo.event, answer, at?.frame.scope, group)
    } else if (at) {
      const node = this.#graph.nodes.get(at.nodeId)
      if (node?.kind === 'chunk' && resumeTo === 'self') {
        const resume: ResumeInfo = { interruptId, value: answer, resumeCount: at.resumeCount + 1 }
        const run = this.#spawn(group, () =>
          this.#runChunk(node, at.input, at.frame, group, at.trigger, resume),
        )
        this.#checkIdle()
        await run
        return
      }
      if (node) this.#spawn(group, async () => this.#afterChunk(node, answer, at.frame, group))
    }
    this.#checkIdle()
  }

  // ---- save / load ---------------------------------------------------------------------------

  /**
   * A versioned, JSON-serialisable snapshot of where this execution stands: state, interrupts,
   * parked and running branches, blocks, joins, waiting child flows and the stream position.
   * A step running now is saved as running and runs again after a load (at-least-once).
   */
  save(options: { maxBytes?: number } = {}): ExecutionSnapshot {
    const subFlows = [...this.#subFlows.values()].map((s) => {
      if (s.child.#pending > 0)
        throw new FlowcastError(
          'invalid_state',
          `execution ${this.id}: child flow "${s.child.flow.name}" is running; save once it waits or ends`,
        )
      return {
        frameId: s.frameId,
        nodeId: s.nodeId,
        flow: s.child.flow.name,
        frame: s.frame,
        child: s.child.save(),
      }
    })
    const snap: ExecutionSnapshot = {
      version: SNAPSHOT_VERSION,
      kind: SNAPSHOT_KIND,
      flow: this.flow.name,
      executionId: this.id,
      status: this.#status,
      lifecycle: this.#lifecycle,
      savedAt: Date.now(),
      createdAt: this.createdAt,
      input: this.#input,
      state: this.#state.snapshot(),
      interrupts: [...this.#interrupts.values()].map((r) =>
        r.at ? { info: r.info, at: r.at } : { info: r.info },
      ),
      running: [...this.#running.values()],
      invocations: [...this.#invocations.values()],
      joins: [...this.#joins].map(([key, arrived]) => ({ key, arrived: [...arrived] })),
      collections: [...this.#collected].map(([key, slots]) => ({ key, slots })),
      subFlows,
      stream: this.#log.streamClose
        ? { lastSeq: this.#log.lastSeq, close: this.#log.streamClose }
        : { lastSeq: this.#log.lastSeq },
      bindings: [...this.#bindings.keys()],
      counter: this.#counter,
    }
    if (this.#explicitResult) snap.result = { value: this.#explicitResult.value }
    return toJson(snap, options.maxBytes)
  }

  /**
   * Restores a snapshot into this fresh execution (same flow, not started): the stream goes on
   * at the snapshot's `lastSeq + 1`, waiting interrupts can be continued, and steps that were
   * running run again. Throws `invalid_snapshot` when the snapshot does not fit this flow.
   */
  load(snapshot: ExecutionSnapshot): this {
    if (this.#started || this.#active || this.#log.lastSeq > 0)
      throw new FlowcastError(
        'invalid_state',
        `execution ${this.id} has already run: load into a fresh execution`,
      )
    const snap = checkSnapshot(snapshot, this.flow.name)
    const known = (nodeId: string, chunk?: string) => {
      const node = this.#graph.nodes.get(nodeId)
      if (!node || (chunk !== undefined && (node.kind !== 'chunk' || node.chunk.name !== chunk)))
        throw new FlowcastError(
          'invalid_snapshot',
          `snapshot of "${snap.flow}" refers to step ${nodeId}${chunk ? ` (${chunk})` : ''}, which this flow's wiring does not have`,
        )
    }
    for (const r of snap.interrupts) if (r.at && r.info.status === 'waiting') known(r.at.nodeId, r.at.chunk)
    for (const r of snap.running) known(r.nodeId)
    for (const inv of snap.invocations) known(inv.nodeId)
    for (const s of snap.subFlows) known(s.nodeId)
    ;(this as { id: string }).id = snap.executionId
    this.#input = snap.input
    this.#state.restore(snap.state)
    this.#counter = snap.counter
    if (snap.result) this.#explicitResult = { value: snap.result.value }
    for (const r of snap.interrupts)
      this.#interruptsForWrite().set(r.info.id, r.at ? { info: r.info, at: r.at } : { info: r.info })
    for (const inv of snap.invocations) this.#invocationsForWrite().set(inv.id, structuredClone(inv))
    for (const j of snap.joins) this.#joinsForWrite().set(j.key, new Map(j.arrived))
    for (const c of snap.collections) this.#collectedForWrite().set(c.key, c.slots)
    this.#log.resumeAfter(snap.stream.lastSeq)
    this.#started = Promise.resolve()
    this.#active = true
    this.#lifecycle = snap.lifecycle === 'closed' ? 'closed' : snap.lifecycle
    if (isTerminal(snap.status)) {
      if (snap.stream.close) this.#log.close(snap.stream.close.reason, snap.stream.close.by)
      this.#status = snap.status
      this.#closeSnapshot = snap.status === 'completed' ? this.#snapshotForClose() : undefined
      if (snap.status === 'completed')
        this.#settleResult(this.#explicitResult ? this.#explicitResult.value : this.#closeSnapshot)
      return this
    }
    if (snap.stream.close) this.#log.close(snap.stream.close.reason, snap.stream.close.by)
    for (const s of snap.subFlows) {
      const node = this.#graph.nodes.get(s.nodeId)
      if (node?.kind !== 'subflow') continue
      const child = new Execution(
        node.flow,
        { autoCloseTimeout: 0 },
        { parent: this, bridgeStream: node.options.bridgeStream ?? true },
      )
      child.load(s.child)
      const projected = new Map<string, string>()
      for (const r of this.#interrupts.values())
        if (r.info.subFlowFrameId === s.frameId && r.info.status === 'waiting')
          projected.set(r.info.id, r.info.localInterruptId!)
      this.#subFlowsForWrite().set(s.frameId, {
        frameId: s.frameId,
        nodeId: s.nodeId,
        frame: s.frame,
        child,
        options: node.options,
        projected,
      })
    }
    this.#setStatus(this.#hasWaiting() ? 'waiting' : 'running')
    const group = new Group()
    for (const run of snap.running) {
      const node = this.#graph.nodes.get(run.nodeId)!
      this.#spawn(group, () =>
        this.#runNode(node, run.value, run.frame, group, run.trigger, run.resume, run.attempt + 1),
      )
    }
    this.#checkIdle()
    return this
  }

  // ---- the graph at run time ---------------------------------------------------------------

  async #begin(input: unknown): Promise<void> {
    this.#input = checkContract(this.flow.contract.input, input, this.flow.name, 'input', 'invalid_input')
    this.#activate()
    const group = new Group()
    this.#fire('start', this.#input, undefined, group, { event: 'START', type: 'start' })
    this.#checkIdle()
  }

  #activate(): void {
    this.#active = true
    if (this.#status === 'created') this.#setStatus('running')
  }

  #scope(): string {
    return `s${++this.#counter}`
  }

  /** Runs the listeners of trigger `key`; a trigger fired without a scope starts a run (scope) of its own. */
  #fire(key: string, value: unknown, scope: string | undefined, group: Group, trigger: Trigger): void {
    const ids = this.#graph.listeners.get(key) ?? []
    let runScope: string | undefined
    for (const id of ids) {
      const node = this.#graph.nodes.get(id)!
      if (node.kind === 'join') {
        this.#join(node, key, value, scope, group, trigger)
        continue
      }
      runScope ??= scope ?? this.#scope()
      this.#spawn(group, () => this.#runNode(node, value, { scope: runScope! }, group, trigger))
    }
    for (const b of this.#bindings.values()) {
      if (b.trigger !== key) continue
      runScope ??= scope ?? this.#scope()
      this.#spawn(group, () => this.#runNode(b.node, value, { scope: runScope! }, group, trigger))
    }
  }

  #fireEvent(event: string, value: unknown, scope: string | undefined, group: Group): void {
    // An event named by a waiting interrupt's resumeTo answers it, as `continueWith` would.
    for (const record of this.#interrupts.values()) {
      const to = record.info.resumeTo
      if (record.info.status === 'waiting' && typeof to === 'object' && to.event === event)
        this.#markResumed(record, value)
    }
    this.#fire(`event:${event}`, value, scope, group, { event, type: 'event' })
  }

  #onDataChange(key: string, value: unknown): void {
    if (!this.#graph.listeners.has(key) || isTerminal(this.#status)) return
    const [type, name] = splitTrigger(key)
    this.#fire(key, value, undefined, new Group(), { event: name, type: type as Trigger['type'] })
  }

  #join(
    node: Extract<GraphNode, { kind: 'join' }>,
    key: string,
    value: unknown,
    scope: string | undefined,
    group: Group,
    trigger: Trigger,
  ): void {
    const frame: Frame = { scope: scope ?? this.#scope() }
    const [type, name] = splitTrigger(key)
    if (node.mode === 'simple_or')
      return void this.#spawn(group, async () => this.#continue(node, value, frame, group, trigger))
    if (node.mode === 'or')
      return void this.#spawn(group, async () =>
        this.#continue(node, { type, name, value }, frame, group, trigger),
      )
    const stateKey = `${node.id}|${scope ?? 'root'}`
    const seen = this.#joins.get(stateKey) ?? new Map<string, unknown>()
    this.#joinsForWrite().set(stateKey, seen)
    seen.set(key, value)
    if (seen.size < node.triggers.length) return
    this.#joinsOwn?.delete(stateKey)
    // All arrived: deliver them grouped by type, as TriggerFlow does, and start afresh.
    const grouped: Record<string, Record<string, unknown>> = {}
    for (const [k, v] of seen) {
      const [t, n] = splitTrigger(k)
      grouped[t] ??= {}
      grouped[t][n] = v
    }
    this.#spawn(group, async () => this.#continue(node, grouped, frame, group, trigger))
  }

  /** Tracks one task; the execution is idle when none is left, and fails when one throws. */
  #spawn<T>(group: Group, work: () => Promise<T>): Promise<T> {
    this.#pending++
    group.add()
    if (this.#idleTimer) {
      clearTimeout(this.#idleTimer)
      this.#idleTimer = undefined
    }
    const run = Promise.resolve().then(work)
    run.then(
      () => {
        group.done()
        this.#taskDone()
      },
      (err) => {
        group.done({ value: err })
        this.#fail(err)
        this.#taskDone()
      },
    )
    return run
  }

  #taskDone(): void {
    this.#pending--
    this.#checkIdle()
  }

  async #runNode(
    node: GraphNode,
    value: unknown,
    frame: Frame,
    group: Group,
    trigger: Trigger,
    resume?: ResumeInfo,
    attempt = 1,
  ): Promise<void> {
    if (this.#abort.aborted) return
    const runId = ++this.#runIds
    this.#boundary()
    this.#runningOwn ??= new Map()
    this.#runningOwn.set(runId, {
      nodeId: node.id,
      value,
      frame,
      trigger,
      attempt,
      ...(resume ? { resume } : {}),
    })
    try {
      await this.#step(node, value, frame, group, trigger, resume, attempt)
    } finally {
      this.#runningOwn?.delete(runId)
      this.#boundary()
    }
  }

  async #step(
    node: GraphNode,
    value: unknown,
    frame: Frame,
    group: Group,
    trigger: Trigger,
    resume: ResumeInfo | undefined,
    attempt: number,
  ): Promise<void> {
    switch (node.kind) {
      case 'chunk':
        return this.#runChunk(node, value, frame, group, trigger, resume, attempt)
      case 'subflow':
        return this.#startChild(node, value, frame)
      case 'batch':
        return this.#openBlock(
          node,
          value,
          frame,
          group,
          'object',
          node.branches.map((b) => b.name),
          node.concurrency,
        )
      case 'forEach': {
        // As in TriggerFlow: a list is iterated, anything else (a string, an object) is one item.
        const items = Array.isArray(value) ? value : [value]
        if (items.length === 0) return this.#continue(node, [], frame, group, trigger)
        return this.#openBlock(
          node,
          items,
          frame,
          group,
          'array',
          items.map((_, i) => String(i)),
          node.concurrency,
        )
      }
      case 'match':
        return this.#match(node, value, frame, group, trigger)
      case 'inline':
        return this.#openBlock(node, value, frame, group, 'single', ['0'], 1)
      case 'side':
        this.#dispatch(node.entry, value, { scope: frame.scope }, group, trigger)
        return this.#continue(node, value, frame, group, trigger)
      case 'collect':
        return this.#collect(node, value, frame, group, trigger)
      case 'end':
        // The first `.end()` reached wins; a resumed branch passing it again does not replace it.
        if (!this.#explicitResult) this.#setResult(value)
        return
      case 'join':
        return this.#continue(node, value, frame, group, trigger)
    }
  }

  async #runChunk(
    node: Extract<GraphNode, { kind: 'chunk' }>,
    value: unknown,
    frame: Frame,
    group: Group,
    trigger: Trigger,
    resume?: ResumeInfo,
    attempt = 1,
  ): Promise<void> {
    await this.#permits.acquire()
    let held = true
    const abort = this.#abort
    const execution = this
    const host: ChunkHost = {
      executionId: this.id,
      get signal() {
        return abort.signal
      },
      state: this.#state,
      get flowData() {
        return execution.#flowData()
      },
      stream: new Execution.#StreamPort(this, attempt),
      stopStream: () => this.stopStream('flow'),
      emit: async (event, v) => {
        const inner = new Group()
        this.#fireEvent(event, v, frame.scope, inner)
        // Waiting for handlers gives the permit back, so a bounded execution cannot deadlock on itself.
        if (held) {
          held = false
          this.#permits.release()
        }
        try {
          await inner.settled()
        } finally {
          await this.#permits.acquire()
          held = true
        }
      },
      emitNowait: (event, v) => this.#fireEvent(event, v, frame.scope, new Group()),
      setResult: (v) => this.#setResult(v),
      pause: (options) => this.#pause(options, node, value, frame, trigger, resume),
    }
    let out: unknown
    try {
      if (this.#abort.aborted) return
      const run = () =>
        node.chunk.handler(new RuntimeData(host, value, node.chunk.name, trigger, resume, attempt))
      const wrap = this.#aroundChunk
      // Without a wrapper the handler runs exactly as before (no extra microtask per chunk).
      out = await (wrap
        ? wrap({ executionId: this.#rootId, flow: this.flow.name, chunk: node.chunk.name }, async () => run())
        : run())
    } catch (err) {
      if (this.#abort.aborted) return
      if (!this.flow.skipExceptions) throw err
      // As in TriggerFlow: the failing chunk emits nothing, so its downstream never runs.
      this.skippedErrors.push({ chunk: node.chunk.name, error: err })
      return
    } finally {
      if (held) this.#permits.release()
    }
    if (isPauseSignal(out) || this.#abort.aborted) return
    this.#afterChunk(node, out, frame, group)
  }

  #afterChunk(node: GraphNode, out: unknown, frame: Frame, group: Group): void {
    const name = node.kind === 'chunk' ? node.chunk.name : node.id
    const trigger: Trigger = { event: name, type: 'chunk' }
    // when(chunk) handlers run beside the chain, in the same run.
    if (node.kind === 'chunk') this.#fire(`chunk:${name}`, out, frame.scope, group, trigger)
    this.#continue(node, out, frame, group, trigger)
  }

  /** Runs the nodes after `node` with its output; a node with none ends its branch (delivering to its block). */
  #continue(node: GraphNode, value: unknown, frame: Frame, group: Group, trigger: Trigger): void {
    if (node.next.length === 0) this.#deliver(frame, value, group)
    else this.#dispatch(node.next, value, frame, group, trigger)
  }

  #dispatch(ids: readonly string[], value: unknown, frame: Frame, group: Group, trigger: Trigger): void {
    for (const id of ids) {
      const next = this.#graph.nodes.get(id)!
      this.#spawn(group, () => this.#runNode(next, value, frame, group, trigger))
    }
  }

  #openBlock(
    node: GraphNode,
    input: unknown,
    frame: Frame,
    group: Group,
    shape: SavedInvocation['shape'],
    slots: string[],
    concurrency: number,
  ): void {
    const inv: SavedInvocation = {
      id: `i${++this.#counter}`,
      nodeId: node.id,
      frame,
      input,
      shape,
      expected: slots,
      queue: [...slots],
      slots: {},
      filled: [],
      inFlight: 0,
      concurrency,
    }
    this.#invocationsForWrite().set(inv.id, inv)
    this.#pump(inv, group)
  }

  #pump(inv: SavedInvocation, group: Group): void {
    const node = this.#graph.nodes.get(inv.nodeId)!
    while (inv.inFlight < inv.concurrency && inv.queue.length > 0) {
      const slot = inv.queue.shift()!
      inv.inFlight++
      const [entry, value] = slotEntry(node, inv, slot)
      const frame: Frame = { scope: inv.frame.scope, sink: { inv: inv.id, slot } }
      if (entry.length === 0) this.#deliver(frame, value, group)
      else this.#dispatch(entry, value, frame, group, { event: node.id, type: 'chunk' })
    }
  }

  /** A branch inside a block reached its end: fill the slot; a full block goes on after its node. */
  #deliver(frame: Frame, value: unknown, group: Group): void {
    const sink = frame.sink
    if (!sink) return
    const inv = this.#invocations.get(sink.inv)
    // The first branch end to reach a slot fills it; a parallel branch's later end is not counted twice.
    if (!inv || inv.filled.includes(sink.slot)) return
    inv.slots[sink.slot] = value
    inv.filled.push(sink.slot)
    inv.inFlight--
    if (inv.filled.length < inv.expected.length) {
      this.#pump(inv, group)
      return
    }
    this.#invocationsOwn?.delete(inv.id)
    const node = this.#graph.nodes.get(inv.nodeId)!
    this.#continue(node, blockOutput(inv), inv.frame, group, { event: node.id, type: 'chunk' })
  }

  async #match(
    node: Extract<GraphNode, { kind: 'match' }>,
    value: unknown,
    frame: Frame,
    group: Group,
    trigger: Trigger,
  ): Promise<void> {
    const hits: string[] = []
    const data = new RuntimeData(this.#conditionHost(), value, node.id, trigger)
    for (const [i, c] of node.cases.entries()) {
      if (!(await holds(c.condition, data, value))) continue
      hits.push(`case:${i}`)
      if (node.mode === 'hit_first') break
    }
    if (hits.length === 0) {
      // No case and no else: the value passes through unchanged.
      if (!node.otherwise) return this.#continue(node, value, frame, group, trigger)
      hits.push('else')
    }
    return this.#openBlock(
      node,
      value,
      frame,
      group,
      node.mode === 'hit_all' && hits[0] !== 'else' ? 'array' : 'single',
      hits,
      Number.POSITIVE_INFINITY,
    )
  }

  #collect(
    node: Extract<GraphNode, { kind: 'collect' }>,
    value: unknown,
    frame: Frame,
    group: Group,
    trigger: Trigger,
  ): void {
    const key = `${node.name}|${frame.scope}`
    const slots = this.#collected.get(key) ?? {}
    this.#collectedForWrite().set(key, slots)
    slots[node.branchId] = value
    const branches = this.#graph.collections.get(node.name) ?? []
    if (!branches.every((b) => Object.hasOwn(slots, b))) return
    const filled = Object.fromEntries(branches.map((b) => [b, slots[b]]))
    if (node.mode === 'filled_then_empty') this.#collectedOwn?.delete(key)
    this.#fire(`collect:${node.name}`, filled, frame.scope, group, { event: node.name, type: 'collect' })
    this.#continue(node, filled, frame, group, trigger)
  }

  // ---- child flows -------------------------------------------------------------------------

  async #startChild(
    node: Extract<GraphNode, { kind: 'subflow' }>,
    value: unknown,
    frame: Frame,
  ): Promise<void> {
    // An aborted signal never fires 'abort' again: a child started now would outlive its parent.
    if (this.#abort.aborted) throw this.#abort.reason
    const source = node.options.capture?.input ?? 'value'
    const captured = source === 'value' ? value : this.#readSource(source)
    const child = new Execution(
      node.flow,
      { autoCloseTimeout: 0 },
      { parent: this, bridgeStream: node.options.bridgeStream ?? true },
    )
    const sub: SubFlowFrame = {
      frameId: `f${++this.#counter}`,
      nodeId: node.id,
      frame,
      child,
      options: node.options,
      projected: new Map(),
    }
    this.#subFlowsForWrite().set(sub.frameId, sub)
    // The child gets its own copy: nothing it does to its input reaches the parent's value.
    await child.start(structuredClone(captured))
    await this.#awaitChild(sub)
  }

  /** Waits until the child closes (the parent goes on) or waits at interrupts (projected here, branch parked). */
  async #awaitChild(sub: SubFlowFrame): Promise<void> {
    const child = sub.child
    const outcome = await child.#settledOrWaiting()
    if (outcome === 'waiting') {
      for (const info of child.getPendingInterrupts()) {
        const rootId = `${sub.frameId}:${info.id}`
        if (sub.projected.has(rootId)) continue
        sub.projected.set(rootId, info.id)
        const projected: InterruptInfo = {
          ...info,
          id: rootId,
          localInterruptId: info.id,
          subFlowFrameId: sub.frameId,
          status: 'waiting',
        }
        this.#interruptsForWrite().set(rootId, { info: projected })
        this.#log.append({
          type: 'interrupt',
          action: 'project',
          executionId: this.id,
          interrupt: projected,
          value: info.payload,
        } as S)
      }
      this.#refreshWaiting()
      return
    }
    this.#subFlowsOwn?.delete(sub.frameId)
    const status = child.getStatus()
    if (status === 'failed') throw child.getError()
    if (status !== 'completed')
      throw (
        child.#failure ??
        new FlowcastError('execution_cancelled', `child flow "${child.flow.name}" was ${status}`)
      )
    const snapshot = child.#state.snapshot()
    const explicit = child.#explicitResult
    let next: unknown = explicit ? explicit.value : snapshot
    for (const [target, from] of Object.entries(sub.options.writeBack ?? {})) {
      const resolved = resolveWriteBack(from, explicit, snapshot)
      if (target === 'value') next = resolved
      else if (target.startsWith('state.')) this.#state.set(target.slice(6), resolved)
    }
    const node = this.#graph.nodes.get(sub.nodeId)!
    this.#continue(node, next, sub.frame, new Group(), { event: child.flow.name, type: 'chunk' })
  }

  /** Resolves when this (child) execution has ended, or is idle with interrupts waiting. */
  #settledOrWaiting(): Promise<'closed' | 'waiting'> {
    return new Promise((resolve) => {
      const check = () => {
        const outcome = isTerminal(this.#status)
          ? 'closed'
          : this.#pending === 0 && this.#hasWaiting()
            ? 'waiting'
            : undefined
        if (outcome) resolve(outcome)
        return outcome !== undefined
      }
      if (check()) return
      const off = this.onStatusChange(() => {
        if (check()) off()
      })
      this.#drainWaiters.push(() => {
        if (check()) off()
      })
    })
  }

  #readSource(source: string): unknown {
    if (source.startsWith('state.')) return this.#state.get(source.slice(6))
    if (source.startsWith('flowData.')) return this.flow.flowData.get(source.slice(9))
    throw new FlowcastError(
      'invalid_input',
      `capture source "${source}" is not value, state.<path> or flowData.<path>`,
    )
  }

  // ---- interrupts --------------------------------------------------------------------------

  #pause(
    options: PauseOptions,
    node: Extract<GraphNode, { kind: 'chunk' }>,
    input: unknown,
    frame: Frame,
    trigger: Trigger,
    resume: ResumeInfo | undefined,
  ): PauseSignal {
    if (isTerminal(this.#status))
      throw new FlowcastError('invalid_state', `execution ${this.id} is ${this.#status}: cannot pause`)
    const id = options.interruptId ?? nanoid(10)
    const resumeTo: ResumeTo =
      options.resumeTo ?? (options.resumeEvent ? { event: options.resumeEvent } : 'next')
    const maxResumes = options.maxResumes === undefined ? 1 : options.maxResumes
    const resumeCount = resume && resume.interruptId === id ? resume.resumeCount : 0
    if (resumeTo === 'self' && maxResumes !== null && resumeCount >= maxResumes) {
      throw new FlowcastError(
        'invalid_state',
        `self resume limit reached for interrupt "${id}": resumed ${resumeCount} time(s), maxResumes ${maxResumes}; handle data.isResume`,
      )
    }
    if (this.#interrupts.get(id)?.info.status === 'waiting')
      throw new FlowcastError('invalid_state', `interrupt "${id}" is already waiting`)
    const info: InterruptInfo = {
      id,
      type: options.type,
      ...(options.payload === undefined ? {} : { payload: options.payload }),
      ...(options.resumeEvent === undefined ? {} : { resumeEvent: options.resumeEvent }),
      resumeTo,
      status: 'waiting',
      executionId: this.id,
      sourceFlowName: this.flow.name,
      resumeCount,
      maxResumes: resumeTo === 'self' ? maxResumes : null,
      createdAt: Date.now(),
    }
    this.#interruptsForWrite().set(id, {
      info,
      ...(options.answer === undefined ? {} : { answer: options.answer }),
      at: { nodeId: node.id, chunk: node.chunk.name, frame, input, trigger, resumeCount },
    })
    this.#log.append({
      type: 'interrupt',
      action: 'pause',
      executionId: this.id,
      interrupt: { ...info },
    } as S)
    this.#refreshWaiting()
    this.#boundary()
    return pauseSignal(id)
  }

  /** A step boundary: tells the checkpoint listeners. */
  #boundary(): void {
    for (const l of this.#checkpointListeners) l()
  }

  #markResumed(record: InterruptRecord, value: unknown, requestId?: string): void {
    record.info = {
      ...record.info,
      status: 'resumed',
      resumedAt: Date.now(),
      resumeValue: value,
      ...(requestId === undefined ? {} : { resumeRequestId: requestId }),
    }
    this.#boundary()
    this.#log.append({
      type: 'interrupt',
      action: 'resume',
      executionId: this.id,
      interrupt: { ...record.info },
      value,
    } as S)
    this.#refreshWaiting()
  }

  #cancelInterrupts(): void {
    for (const record of this.#interrupts.values())
      if (record.info.status === 'waiting') record.info = { ...record.info, status: 'cancelled' }
  }

  #hasWaiting(): boolean {
    for (const r of this.#interrupts.values()) if (r.info.status === 'waiting') return true
    return false
  }

  #refreshWaiting(): void {
    if (isTerminal(this.#status) || !this.#active) return
    this.#setStatus(this.#hasWaiting() ? 'waiting' : 'running')
  }

  // ---- stream, result, failure, close --------------------------------------------------------

  /**
   * A chunk run's StreamPort: an object with its method on the prototype, so a put reads it and
   * this execution, where a closure read the host, the closure and its context (each a cache line,
   * cold when a thousand executions each put an item in turn).
   */
  static readonly #StreamPort = class implements StreamPort {
    readonly #execution: Execution<any, any, any>
    readonly #attempt: number

    constructor(execution: Execution<any, any, any>, attempt: number) {
      this.#execution = execution
      this.#attempt = attempt
    }

    put(item: unknown): boolean {
      return this.#execution.#put(item, this.#attempt)
    }
  }

  /** Puts a flow item into the stream after checking the stream contract. */
  #put(item: unknown, attempt?: number): boolean {
    const data = checkContract<S>(
      this.flow.contract.stream,
      item,
      this.flow.name,
      'stream item',
      'contract_violation',
    )
    try {
      return this.#log.append(data, undefined, attempt, this.#maxItemBytes) !== undefined
    } catch (err) {
      if (!isFlowcastError(err, 'item_too_large')) throw err
      throw new FlowcastError('item_too_large', `flow "${this.flow.name}": ${err.message}`, {
        details: err.details,
      })
    }
  }

  #setResult(value: unknown): void {
    const checked = checkContract<R>(
      this.flow.contract.result,
      value,
      this.flow.name,
      'result',
      'invalid_result',
    )
    this.#explicitResult = { value: checked }
  }

  #settleResult(value: unknown): void {
    if (this.#resultSettled) return
    this.#resultSettled = true
    this.#settle?.resolve(value as R)
    this.#settle = undefined
  }

  /** Fails the execution with the flow's error; the first failure wins. */
  #fail(err: unknown): void {
    if (isTerminal(this.#status)) return
    if (err instanceof FlowcastError && err.code === 'execution_cancelled' && this.#abort.aborted) return
    this.#error = err
    const message = err instanceof Error ? err.message : String(err)
    this.#failure = new FlowcastError('execution_failed', `flow "${this.flow.name}" failed: ${message}`, {
      cause: err,
    })
    this.#cancelInterrupts()
    this.#finish('failed', this.#failure)
    for (const sub of this.#subFlows.values()) sub.child.cancel('parent failed')
  }

  #checkIdle(): void {
    if (this.#pending > 0) return
    const waiters = this.#drainWaiters
    this.#drainWaiters = []
    for (const w of waiters) w()
    if (isTerminal(this.#status) || !this.#active || !this.#started || this.#hasWaiting()) return
    if (!this.#autoClose || this.#autoCloseTimeout === null || this.#closing) return
    if (this.#autoCloseTimeout === 0) {
      this.#complete()
      return
    }
    if (this.#idleTimer) clearTimeout(this.#idleTimer)
    this.#idleTimer = setTimeout(() => {
      this.#idleTimer = undefined
      if (this.#pending === 0 && !this.#hasWaiting() && !isTerminal(this.#status)) this.#complete()
    }, this.#autoCloseTimeout)
    // An idle execution is no reason to keep a process alive.
    this.#idleTimer.unref?.()
  }

  #drain(timeout: number | undefined): Promise<void> {
    if (this.#pending === 0) return Promise.resolve()
    return new Promise((resolve, reject) => {
      let timer: ReturnType<typeof setTimeout> | undefined
      const waiter = () => {
        if (this.#pending > 0) return void this.#drainWaiters.push(waiter)
        if (timer) clearTimeout(timer)
        resolve()
      }
      this.#drainWaiters.push(waiter)
      if (timeout !== undefined) {
        timer = setTimeout(() => {
          this.cancel('close timed out')
          reject(
            new FlowcastError(
              'timeout',
              `execution ${this.id}: running work did not finish within ${timeout} ms`,
            ),
          )
        }, timeout)
      }
    })
  }

  #snapshotForClose(): Record<string, unknown> {
    const snap = this.#state.snapshot()
    if (this.#explicitResult) snap.$final_result = copyData(this.#explicitResult.value)
    return snap
  }

  /** Closes normally: the stream ends `completed` and the result is settled (what was set, or the close snapshot). */
  #complete(): void {
    if (isTerminal(this.#status)) return
    const snapshot = this.#snapshotForClose()
    let result: unknown
    try {
      result = this.#explicitResult
        ? this.#explicitResult.value
        : checkContract<R>(
            this.flow.contract.result,
            this.#state.snapshot(),
            this.flow.name,
            'result',
            'invalid_result',
          )
    } catch (err) {
      this.#fail(err)
      return
    }
    this.#closeSnapshot = snapshot
    this.#finish('completed', undefined, result)
  }

  #finish(status: TerminalStatus, error?: FlowcastError, result?: unknown): void {
    this.endedAt = Date.now()
    this.#lifecycle = 'closed'
    if (this.#idleTimer) clearTimeout(this.#idleTimer)
    this.#idleTimer = undefined
    // Scratch of joins, collections and blocks belongs to live runs only.
    this.#joinsOwn = undefined
    this.#collectedOwn = undefined
    this.#invocationsOwn = undefined
    this.#setStatus(status)
    if (status !== 'completed') this.#abort.abort(error)
    this.#log.close(status)
    if (status === 'completed') this.#settleResult(result)
    else if (!this.#resultSettled) {
      this.#resultSettled = true
      this.#settle?.reject(error)
      this.#settle = undefined
    }
    if (this.#runningOwn?.size === 0) this.#runningOwn = undefined
    const waiters = this.#drainWaiters
    this.#drainWaiters = []
    for (const w of waiters) w()
  }

  #setStatus(status: ExecutionStatus): void {
    if (this.#status === status) return
    this.#status = status
    for (const l of this.#statusListeners) l(status, this)
    this.#boundary()
  }

  // ---- views -------------------------------------------------------------------------------

  /** The flow's shared data, seen from this execution: writes fire `when({ flowData })` here. */
  #flowData(): DataStore {
    if (this.#flowDataOwn) return this.#flowDataOwn
    const store = this.flow.flowData
    this.#flowDataOwn = {
      get: (path, fallback) => store.get(path, fallback),
      has: (path) => store.has(path),
      set: (path, value, options = {}) => {
        store.set(path, value, { emit: false })
        if (options.emit !== false) this.#onDataChange(`flowData:${path}`, value)
      },
      append: (path, value, options = {}) => {
        store.append(path, value, { emit: false })
        if (options.emit !== false) this.#onDataChange(`flowData:${path}`, store.get(path))
      },
      delete: (path, options = {}) => {
        const had = store.delete(path, { emit: false })
        if (had && options.emit !== false) this.#onDataChange(`flowData:${path}`, undefined)
        return had
      },
      snapshot: () => store.snapshot(),
    }
    return this.#flowDataOwn
  }

  /** What a match predicate's runtime data reaches: reads work, writes and pauses are refused. */
  #conditionHost(): ChunkHost {
    const refuse = (): never => {
      throw new FlowcastError('invalid_state', 'a match condition cannot put, emit, set a result or pause')
    }
    const abort = this.#abort
    const execution = this
    return {
      executionId: this.id,
      get signal() {
        return abort.signal
      },
      state: this.#state,
      get flowData() {
        return execution.#flowData()
      },
      stream: { put: refuse },
      stopStream: refuse,
      emit: refuse,
      emitNowait: refuse,
      setResult: refuse,
      pause: refuse,
    }
  }
}

function splitTrigger(key: string): [string, string] {
  const at = key.indexOf(':')
  return [key.slice(0, at), key.slice(at + 1)]
}
