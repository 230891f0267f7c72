/**
 * One run of a flow: owns the runtime stream log, the state, the result, the interrupts and the
 * bookkeeping that decides when the run is complete (the START chain and everything it
 * triggered have finished and no interrupt waits).
 */

import { type ExecutionStatus, FlowcastError, isTerminal, type TerminalStatus } from '@flowcast/protocol'
import { nanoid } from 'nanoid'
import { checkContract } from './contract.ts'
import type { CollectMode, ExecutionHost, FlowDefinition } from './internal/host.ts'
import type { InterruptInfo, PauseOptions } from './interrupt.ts'
import { HALT } from './process.ts'
import type { Retention } from './retention.ts'
import { StateStore } from './state.ts'
import { RuntimeStreamLog, type StreamEnvelope, type StreamGap } from './stream-log.ts'

export { type ExecutionStatus, isTerminal } from '@flowcast/protocol'
export type { InterruptInfo } from './interrupt.ts'

export interface ExecutionOptions {
  /** Execution id; a random one when absent. */
  id?: string
  /** Bounds of the retained runtime stream (defaults: DEFAULT_RETENTION). */
  retention?: Partial<Retention>
}

/** How a child execution is tied to its parent. */
interface ParentLink {
  parent: Execution<any, any, any>
  /** Put the child's items into the parent's stream (default true). */
  bridgeStream: boolean
}

export interface StreamReadOptions {
  /** Milliseconds to wait for the NEXT item; `null` waits until the stream closes. */
  timeout?: number | null
  /** Start after this seq (0 = from the earliest retained item). */
  since?: number
}

interface PendingInterrupt extends InterruptInfo {
  owner: Execution<any, any, any>
  answer?: PauseOptions['answer']
  resolve(value: unknown): void
}

/** Default wait for the next stream item, as in TriggerFlow: long enough for slow steps, never forever. */
export const DEFAULT_STREAM_TIMEOUT_MS = 10_000

type StatusListener = (status: ExecutionStatus, execution: Execution<any, any, any>) => void

/** A running (or finished) instance of a TriggerFlow. */
export class Execution<I = unknown, S = unknown, R = unknown> {
  readonly id: string
  readonly flow: FlowDefinition
  readonly #state = new StateStore()
  readonly createdAt = Date.now()
  endedAt: number | undefined

  readonly #log: RuntimeStreamLog<S>
  readonly #abort = new AbortController()
  readonly #parent: ParentLink | undefined
  readonly #root: Execution<any, any, any>
  readonly #interrupts: Map<string, PendingInterrupt>
  /** Ids of interrupts already answered, so a second answer is told "not waiting", not "unknown". */
  readonly #answered: Set<string>
  readonly #statusListeners = new Set<StatusListener>()
  #status: ExecutionStatus = 'created'
  #input: unknown
  #started: Promise<void> | undefined
  #pending = 0
  #chainValue: unknown
  #explicitResult: { value: unknown } | undefined
  #error: unknown
  #failure: FlowcastError | undefined
  #result: Promise<R>
  #settle!: { resolve(v: R): void; reject(e: unknown): void }
  readonly #children = new Set<Execution<any, any, any>>()
  readonly #whenState = new Map<number, Map<string, unknown>>()
  readonly #collected = new Map<string, Map<string, unknown>>()
  /** Errors a `skipExceptions` flow swallowed, with the chunk that threw them. */
  readonly skippedErrors: { chunk: string; error: unknown }[] = []
  /** What the steps of this run reach; never handed out beyond them. */
  readonly #host: ExecutionHost

  /** Use `flow.createExecution(options)`; `parent` is the engine's own, for child flows. */
  constructor(flow: FlowDefinition, options: ExecutionOptions = {}, parent?: ParentLink) {
    this.flow = flow
    this.id = options.id ?? nanoid()
    this.#parent = parent
    this.#root = parent ? parent.parent.#root : this
    this.#interrupts = this.#root === this ? new Map() : this.#root.#interrupts
    this.#answered = this.#root === this ? new Set() : this.#root.#answered
    this.#log = new RuntimeStreamLog<S>(options.retention)
    this.#host = this.#makeHost()
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
          parent.parent.#bridge(entry.envelope.data, nested ? `${source}/${nested}` : source)
        },
      })
    }
  }

  // ---- public API ------------------------------------------------------------------------------

  /** Starts the execution with `input`; resolves once it runs, not when it finishes. */
  start(input?: I): Promise<void> {
    if (this.#started)
      return Promise.reject(new FlowcastError('already_started', `execution ${this.id} has already started`))
    // Cancelled before it ran: starting now would bring a finished execution back to life.
    if (this.#status !== 'created')
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

  /** True once `start` (or a stream read) has started it. */
  get started(): boolean {
    return this.#started !== undefined
  }

  getStatus(): ExecutionStatus {
    return this.#status
  }

  /** A deep copy of the recoverable state. */
  getState(): Record<string, unknown> {
    return this.#state.snapshot()
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

  /** The interrupts currently waiting for an answer in this execution and its children. */
  getPendingInterrupts(): InterruptInfo[] {
    return [...this.#interrupts.values()].map(({ owner: _o, resolve: _r, answer: _a, ...info }) => info)
  }

  /**
   * Waits for the result. Rejects with code `timeout` when `timeout` ms pass first,
   * `execution_failed` (the flow's error as `cause`) or `execution_cancelled`.
   */
  getResult(options: { timeout?: number | null } = {}): Promise<R> {
    const timeout = options.timeout ?? null
    if (timeout === null || isTerminal(this.#status)) return this.#result
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
   * the first iteration if it has not started. `timeout` bounds the wait for the next item.
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
      if (this.#log.closed) return
      if ((await this.#log.waitAfter(cursor, timeout)) === 'timeout') return
    }
  }

  /** Emits an event to the `when` handlers; resolves when the handlers it triggered have finished. */
  emit(event: string, value?: unknown): Promise<void> {
    if (!this.#started || isTerminal(this.#status)) {
      return Promise.reject(
        new FlowcastError('invalid_state', `execution ${this.id} is ${this.#status}: cannot emit "${event}"`),
      )
    }
    return this.#fire(`event:${event}`, value)
  }

  /** Answers a waiting interrupt: puts the `resume` item into the stream and lets the flow go on. */
  async continueWith(interruptId: string, value?: unknown): Promise<void> {
    const pending = this.#interrupts.get(interruptId)
    if (!pending && this.#answered.has(interruptId)) {
      throw new FlowcastError('interrupt_not_waiting', `interrupt "${interruptId}" was already answered`)
    }
    if (!pending) {
      throw new FlowcastError(
        'interrupt_not_found',
        `execution ${this.id} has no waiting interrupt "${interruptId}"`,
      )
    }
    if (isTerminal(pending.owner.#status)) {
      throw new FlowcastError(
        'interrupt_not_waiting',
        `interrupt "${interruptId}" is not waiting: execution is ${pending.owner.#status}`,
      )
    }
    const answer = checkContract(
      pending.answer,
      value,
      pending.owner.flow.name,
      `answer to interrupt "${interruptId}"`,
      'invalid_input',
    )
    this.#interrupts.delete(interruptId)
    this.#answered.add(interruptId)
    const { owner: _o, resolve, answer: _a, ...info } = pending
    const owner = pending.owner
    owner.#put({ type: 'interrupt', action: 'resume', interrupt: info, value: answer } as S, true)
    owner.#refreshWaiting()
    // Tracked so that the completion check runs afterwards: a flow whose pauseFor nobody awaited
    // and that has no resumeEvent has no other work left to notice that it is done.
    await owner.#track(async () => {
      resolve(answer)
      if (pending.resumeEvent) await owner.#fire(`event:${pending.resumeEvent}`, answer)
    })
  }

  /** Cancels the execution: aborts `data.signal`, status cancelled, stream closed. */
  cancel(reason = 'cancelled'): boolean {
    if (isTerminal(this.#status)) return false
    const err = new FlowcastError('execution_cancelled', `execution ${this.id} was cancelled: ${reason}`)
    this.#finish('cancelled', err)
    for (const child of this.#children) child.cancel(reason)
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

  /** Releases the execution: cancels it if it still runs and closes its stream. */
  close(): void {
    this.cancel('closed')
    this.#log.close('cancelled')
  }

  /** Stops the runtime stream, not the execution; returns false when it was already closed. */
  stopStream(by = 'flow'): boolean {
    return this.#log.close('stopped', by)
  }

  /** Calls `listener` on every status change; returns its remover. */
  onStatusChange(listener: StatusListener): () => void {
    this.#statusListeners.add(listener)
    return () => this.#statusListeners.delete(listener)
  }

  // ---- the host the steps reach ------------------------------------------------------------------

  #makeHost(): ExecutionHost {
    const self = this
    return {
      id: this.id,
      flowName: this.flow.name,
      get input() {
        return self.#input
      },
      signal: this.#abort.signal,
      state: this.#state,
      put: (item) => this.#put(item),
      stopStream: (by) => this.stopStream(by),
      emit: (event, value) => this.emit(event, value),
      setResult: (value) => {
        this.#explicitResult = { value }
      },
      pause: (options) => this.#pause(options),
      track: (work) => this.#track(work),
      runChild: (child, input, bridge) => this.#runChild(child, input, bridge),
      collect: (name, branchId, value, mode) => this.#collect(name, branchId, value, mode),
      chunkDone: (name, value) => this.#fire(`chunk:${name}`, value),
      skip: (chunk, error) => {
        if (!this.flow.skipExceptions) return false
        this.skippedErrors.push({ chunk, error })
        return true
      },
    }
  }

  /** Puts a flow item into the stream after checking the stream contract (engine items are trusted). */
  #put(item: unknown, trusted = false): boolean {
    const data = trusted
      ? (item as S)
      : checkContract<S>(this.flow.contract.stream, item, this.flow.name, 'stream item', 'contract_violation')
    return this.#log.append(data) !== undefined
  }

  #pause(options: PauseOptions): Promise<unknown> {
    if (isTerminal(this.#status)) {
      return Promise.reject(
        new FlowcastError('invalid_state', `execution ${this.id} is ${this.#status}: cannot pause`),
      )
    }
    return new Promise((resolve) => {
      const info: InterruptInfo = {
        id: nanoid(10),
        type: options.type,
        executionId: this.id,
        createdAt: Date.now(),
        ...(options.payload === undefined ? {} : { payload: options.payload }),
        ...(options.resumeEvent === undefined ? {} : { resumeEvent: options.resumeEvent }),
      }
      this.#interrupts.set(info.id, {
        ...info,
        owner: this,
        resolve,
        ...(options.answer === undefined ? {} : { answer: options.answer }),
      })
      this.#put({ type: 'interrupt', action: 'pause', interrupt: info }, true)
      this.#refreshWaiting()
    })
  }

  /** Tracks a unit of work; the execution completes when none is left. */
  #track<T>(work: () => Promise<T>): Promise<T> {
    this.#pending++
    const run = Promise.resolve().then(work)
    run.then(
      () => this.#done(),
      (err) => {
        this.#fail(err)
        this.#done()
      },
    )
    return run
  }

  /** Fails the execution with the flow's error; the first failure wins. */
  #fail(err: unknown): void {
    if (isTerminal(this.#status)) return
    if (err instanceof FlowcastError && err.code === 'execution_cancelled' && this.#abort.signal.aborted)
      return
    this.#error = err
    const message = err instanceof Error ? err.message : String(err)
    this.#failure = new FlowcastError('execution_failed', `flow "${this.flow.name}" failed: ${message}`, {
      cause: err,
    })
    this.#finish('failed', this.#failure)
    for (const child of this.#children) child.cancel('parent failed')
  }

  /** Runs a child flow to its result, bridging its stream unless told not to. */
  async #runChild(child: FlowDefinition, input: unknown, bridgeStream: boolean): Promise<unknown> {
    // An aborted signal never fires 'abort' again: a child started now would outlive its parent.
    if (this.signal.aborted) throw this.signal.reason
    const exec = new Execution(child, {}, { parent: this, bridgeStream })
    this.#children.add(exec)
    const onAbort = () => exec.cancel('parent cancelled')
    this.signal.addEventListener('abort', onAbort, { once: true })
    try {
      await exec.start(input)
      return await exec.getResult()
    } finally {
      this.signal.removeEventListener('abort', onAbort)
      this.#children.delete(exec)
    }
  }

  /** Fires a trigger (`event:x`, `chunk:x`, `collect:x`) into the when-handlers; resolves when they finish. */
  #fire(trigger: string, value: unknown): Promise<void> {
    const runs: Promise<unknown>[] = []
    this.flow.whens.forEach((when, index) => {
      if (!when.triggers.includes(trigger)) return
      let fired: unknown = value
      if (when.triggers.length > 1) {
        const [type, name] = splitTrigger(trigger)
        if (when.mode === 'and') {
          const seen = this.#whenState.get(index) ?? new Map<string, unknown>()
          this.#whenState.set(index, seen)
          seen.set(trigger, value)
          if (seen.size < when.triggers.length) return
          // All arrived: deliver them grouped by type, as TriggerFlow does, and start afresh.
          const grouped: Record<string, Record<string, unknown>> = {}
          for (const [key, v] of seen) {
            const [t, n] = splitTrigger(key)
            grouped[t] ??= {}
            grouped[t][n] = v
          }
          fired = grouped
          this.#whenState.delete(index)
        } else if (when.mode === 'or') {
          fired = { type, name, value }
        }
      }
      runs.push(this.#track(() => when.process.run(this.#host, fired)))
    })
    return Promise.allSettled(runs).then(() => undefined)
  }

  /** Stores a branch's value in collection `name`; returns the filled map, or undefined while unfilled. */
  #collect(name: string, branchId: string, value: unknown, mode: CollectMode): unknown {
    const slots = this.#collected.get(name) ?? new Map<string, unknown>()
    this.#collected.set(name, slots)
    slots.set(branchId, value)
    const branches = this.flow.collectionBranches(name)
    if (!branches.every((b) => slots.has(b))) return undefined
    const filled = Object.fromEntries(branches.map((b) => [b, slots.get(b)]))
    if (mode === 'filled_then_empty') this.#collected.delete(name)
    void this.#fire(`collect:${name}`, filled)
    return filled
  }

  #bridge(data: unknown, source: string): void {
    this.#log.append(data as S, source)
  }

  async #begin(input: unknown): Promise<void> {
    this.#input = checkContract(this.flow.contract.input, input, this.flow.name, 'input', 'invalid_input')
    this.#setStatus('running')
    const main = this.flow.main
    this.#track(async () => {
      const last = await main.run(this.#host, this.#input)
      // A main chain that ended at an unfilled collect has no value of its own.
      this.#chainValue = last === HALT ? undefined : last
    })
  }

  #done(): void {
    this.#pending--
    if (this.#pending > 0 || isTerminal(this.#status) || this.#hasWaitingInterrupt()) return
    let result: R
    try {
      const raw = this.#explicitResult ? this.#explicitResult.value : this.#chainValue
      result = checkContract<R>(this.flow.contract.result, raw, this.flow.name, 'result', 'invalid_result')
    } catch (err) {
      this.#fail(err)
      return
    }
    this.#finish('completed', undefined, result)
  }

  #refreshWaiting(): void {
    if (isTerminal(this.#status)) return
    this.#setStatus(this.#hasWaitingInterrupt() ? 'waiting' : 'running')
    if (this.#parent) this.#parent.parent.#refreshWaiting()
  }

  /** True when this execution or one of its descendants waits for an interrupt's answer. */
  #hasWaitingInterrupt(): boolean {
    for (const p of this.#interrupts.values()) {
      for (let e: Execution<any, any, any> | undefined = p.owner; e; e = e.#parent?.parent)
        if (e === this) return true
    }
    return false
  }

  #finish(status: TerminalStatus, error?: FlowcastError, result?: R): void {
    this.endedAt = Date.now()
    for (const [id, p] of this.#interrupts) if (p.owner === this) this.#interrupts.delete(id)
    this.#setStatus(status)
    if (status !== 'completed') this.#abort.abort(error)
    this.#log.close(status)
    if (status === 'completed') this.#settle.resolve(result as R)
    else this.#settle.reject(error)
  }

  #setStatus(status: ExecutionStatus): void {
    if (this.#status === status) return
    this.#status = status
    for (const l of this.#statusListeners) l(status, this)
  }
}

function splitTrigger(key: string): [string, string] {
  const at = key.indexOf(':')
  return [key.slice(0, at), key.slice(at + 1)]
}
