/**
 * The flow definition: chunks, the START chain, `when` handlers and collections, held as a graph.
 * A flow is a blueprint; every run of it is an Execution with state of its own, running the
 * wiring as it stood when the execution was created.
 */

import { FlowcastError, isTerminal } from '@flowcast/protocol'
import type { Chunk, ChunkHandler } from './chunk.ts'
import type { FlowContract, FlowTypeInfo, InputArgOf, InputOf, ResultOf, StreamOf } from './contract.ts'
import { Execution, type ExecutionOptions, type StreamReadOptions } from './execution.ts'
import { type CompiledGraph, type FlowDefinition, Graph, type WhenMode } from './graph.ts'
import {
  type BatchOptions,
  type BatchTarget,
  type CaseChain,
  type CollectMode,
  type Condition,
  type ForEachChain,
  type MatchBlock,
  type MatchMode,
  Process,
  type SubFlowOptions,
  type Target,
} from './process.ts'
import type { RuntimeData } from './runtime-data.ts'
import { StateStore } from './state.ts'

export type { WhenMode } from './graph.ts'

/**
 * What `when` listens to: an event name (or a chunk's name), a chunk, `{ event }` (one name or a
 * list), `{ collect }`, `{ state }` (a state path changed) or `{ flowData }` (a flow-data path changed).
 */
export type WhenTrigger =
  | string
  | Chunk
  | { event: string | string[] }
  | { collect: string }
  | { state: string }
  | { flowData: string }

export interface TriggerFlowOptions<C extends FlowContract> {
  name: string
  contract?: C
  /** One line on what the flow does, shown to people choosing a flow (GET /api/flows, the watch page). */
  description?: string
  /** An input worth trying, offered as the starting point of a new execution (GET /api/flows). */
  exampleInput?: InputArgOf<C>
  /** A chunk that throws ends its branch (nothing downstream runs) instead of failing the execution. */
  skipExceptions?: boolean
  /** Defaults for every execution of this flow (e.g. `autoCloseTimeout: null` to stay open for events). */
  execution?: Omit<ExecutionOptions, 'id'>
}

/** A TriggerFlow: build it once, run it as many executions as you like. */
export class TriggerFlow<C extends FlowContract = FlowContract> implements FlowDefinition {
  readonly kind = 'flow' as const
  readonly name: string
  readonly contract: C
  readonly description: string | undefined
  readonly exampleInput: InputArgOf<C> | undefined
  readonly skipExceptions: boolean
  /** Data shared by every execution of this flow (TriggerFlow's flow_data); not part of any snapshot. */
  readonly flowData = new StateStore()
  /** Defaults every execution of this flow starts from. */
  readonly executionDefaults: Readonly<Omit<ExecutionOptions, 'id'>>
  /** Type carrier for `FlowTypes<typeof flow>`; `input` is what a caller sends (the schema's input side); never set at run time. */
  declare readonly types: FlowTypeInfo<InputArgOf<C>, StreamOf<C>, ResultOf<C>>
  readonly #graph = new Graph()
  readonly #chunks = new Map<string, Chunk>()
  readonly #start: Process

  constructor(options: TriggerFlowOptions<C>) {
    this.name = options.name
    this.contract = options.contract ?? ({} as C)
    this.description = options.description
    this.exampleInput = options.exampleInput
    this.skipExceptions = options.skipExceptions ?? false
    this.executionDefaults = options.execution ?? {}
    this.#start = new Process(this.#graph, this.#graph.on('start'))
  }

  /** Defines a named chunk; pass it to `.to(...)`, `batch`, `sideBranch` or `when`. */
  chunk<V = InputOf<C>>(
    name: string,
    handler: (data: RuntimeData<InputOf<C>, StreamOf<C>, ResultOf<C>, V>) => unknown,
  ): Chunk<InputOf<C>, StreamOf<C>, ResultOf<C>> {
    const existing = this.#chunks.get(name)
    if (existing && existing.handler === handler) return existing
    const chunk: Chunk = { kind: 'chunk', name, handler: handler as ChunkHandler }
    this.#chunks.set(name, chunk)
    return chunk
  }

  /** Runs `target` on START; returns the position after it. */
  to(target: Target, options?: SubFlowOptions): Process {
    return this.#start.to(target, options)
  }

  /** Runs a child flow on START. */
  toSubFlow(child: FlowDefinition, options?: SubFlowOptions): Process {
    return this.#start.toSubFlow(child, options)
  }

  /** Runs `target` beside the START chain; see Process.sideBranch. */
  sideBranch(target: Target, options?: SubFlowOptions): Process {
    return this.#start.sideBranch(target, options)
  }

  /** Runs the targets concurrently on the START value; see Process.batch. */
  batch(...targets: (BatchTarget | BatchOptions)[]): Process {
    return this.#start.batch(...targets)
  }

  /** Opens a forEach block on START; see Process.forEach. */
  forEach(options?: { concurrency?: number }): ForEachChain<Process> {
    return this.#start.forEach(options)
  }

  /** Opens a match block on START; see Process.match. */
  match(options?: { mode?: MatchMode }): MatchBlock<Process> {
    return this.#start.match(options)
  }

  /** Opens an if / elif / else block on START. */
  ifCondition(condition: Condition): CaseChain<Process> {
    return this.#start.ifCondition(condition)
  }

  /** Collects the START value into `name`; see Process.collect. */
  collect(name: string, branchId?: string, options?: { mode?: CollectMode }): Process {
    return this.#start.collect(name, branchId, options)
  }

  /** A detached chain, for `sideBranch`, `batch` or `.to` when one target is not enough. */
  branch(): Process {
    return new Process(this.#graph, [])
  }

  /**
   * A chain that runs when the triggers fire. One trigger: its value. Several: `and` waits for
   * all within one run (scope) and delivers `{ event: {..}, chunk: {..}, collect: {..} }` (then
   * starts over), `or` delivers `{ type, name, value }` on each, `simple_or` delivers the value.
   */
  when(trigger: WhenTrigger | WhenTrigger[], options: { mode?: WhenMode } = {}): Process {
    const keys = (Array.isArray(trigger) ? trigger : [trigger]).flatMap((t) => this.#triggerKeys(t))
    if (keys.length === 1) return new Process(this.#graph, this.#graph.on(keys[0]!))
    const mode = options.mode ?? 'and'
    const sorted = [...keys].sort()
    for (const node of this.#graph.nodes.values()) {
      if (
        node.kind === 'join' &&
        node.mode === mode &&
        [...node.triggers].sort().join('\n') === sorted.join('\n')
      )
        return new Process(this.#graph, node.next)
    }
    const [first, ...rest] = keys
    const join = this.#graph.add(this.#graph.on(first!), (id) => ({
      id,
      kind: 'join',
      next: [],
      triggers: keys,
      mode,
    }))
    for (const key of rest) this.#graph.on(key).push(join.id)
    this.#graph.touch()
    return new Process(this.#graph, join.next)
  }

  /**
   * TriggerFlow 4.1's one-call start: runs a hidden execution that closes as soon as nothing is
   * pending and returns its close snapshot. A pause fails it (`invalid_state`): nobody holds a
   * handle to continue it; use `createExecution` for flows that pause or take outside events.
   */
  async start(
    input?: InputArgOf<C>,
    options: Pick<ExecutionOptions, 'concurrency'> = {},
  ): Promise<Record<string, unknown>> {
    const ex = this.#hidden(options)
    await ex.start(input as InputOf<C>)
    await ex.getResult()
    return ex.close()
  }

  /** The one-call form of `getRuntimeStream`: a hidden execution's items (a pause fails it, as `start` says). */
  getRuntimeStream(
    input?: InputArgOf<C>,
    options: StreamReadOptions & Pick<ExecutionOptions, 'concurrency'> = {},
  ): AsyncGenerator<StreamOf<C>, void, undefined> {
    const { concurrency, ...read } = options
    return this.#hidden(concurrency === undefined ? {} : { concurrency }).getRuntimeStream(
      input as InputOf<C>,
      read,
    )
  }

  #hidden(options: Pick<ExecutionOptions, 'concurrency'>) {
    const ex = this.createExecution({ ...options, autoClose: true, autoCloseTimeout: 0 })
    const off = ex.onStatusChange((status) => {
      if (status === 'waiting')
        ex.terminate(
          new FlowcastError(
            'invalid_state',
            `flow "${this.name}": a hidden execution (flow.start / flow.getRuntimeStream) reached pauseFor; pausing requires an execution handle (flow.createExecution)`,
          ),
        )
      if (isTerminal(status)) off()
    })
    return ex
  }

  /** Creates an execution (open; not started: call `start`, or read its runtime stream). */
  createExecution(options: ExecutionOptions = {}): Execution<InputOf<C>, StreamOf<C>, ResultOf<C>> {
    const merged: ExecutionOptions = { ...this.executionDefaults, ...options }
    return new Execution<InputOf<C>, StreamOf<C>, ResultOf<C>>(this, merged)
  }

  /** @internal The wiring as it stands now. */
  compile(): CompiledGraph {
    return this.#graph.compile()
  }

  #triggerKeys(trigger: WhenTrigger): string[] {
    if (typeof trigger === 'string')
      return [this.#chunks.has(trigger) ? `chunk:${trigger}` : `event:${trigger}`]
    if ('kind' in trigger) return [`chunk:${trigger.name}`]
    if ('collect' in trigger) return [`collect:${trigger.collect}`]
    if ('state' in trigger) return [`state:${trigger.state}`]
    if ('flowData' in trigger) return [`flowData:${trigger.flowData}`]
    return (Array.isArray(trigger.event) ? trigger.event : [trigger.event]).map((e) => `event:${e}`)
  }
}

export type { FlowTypes } from '@flowcast/protocol'
