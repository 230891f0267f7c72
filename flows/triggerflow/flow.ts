/**
 * The flow definition: chunks, the START chain, `when` handlers and collections. A flow is a
 * blueprint; every run of it is an Execution with state of its own.
 */
import type { FlowContract, FlowTypeInfo, InputArgOf, InputOf, ResultOf, StreamOf } from './contract.ts'
import { Execution, type ExecutionOptions } from './execution.ts'
import type { FlowDefinition, WhenHandler } from './internal/host.ts'
import {
  type Chunk,
  type ChunkHandler,
  type CollectMode,
  type ForEachChain,
  type MatchBlock,
  type MatchMode,
  Process,
  type SubFlowOptions,
  type Target,
} from './process.ts'
import type { RuntimeData } from './runtime-data.ts'

/** How several `when` triggers combine. */
export type WhenMode = WhenHandler['mode']

/** What `when` listens to: an event name (or a chunk's name), a chunk, or a collection. */
export type WhenTrigger = string | Chunk | { event: string } | { collect: string }

export interface TriggerFlowOptions<C extends FlowContract> {
  name: string
  contract?: C
  /** One line on what the flow does, shown to people choosing a flow (GET /api/flows, the watch page). */
  description?: string
  /** An input worth trying, offered as the starting point of a new execution (GET /api/flows). */
  exampleInput?: InputArgOf<C>
  /** A chunk that throws yields `undefined` and the flow carries on, instead of failing the execution. */
  skipExceptions?: boolean
  /** Defaults for every execution of this flow. */
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
  /** @internal The chain that runs on START. */
  readonly main: Process
  /** @internal */
  readonly whens: WhenHandler[] = []
  /** Type carrier for `FlowTypes<typeof flow>`; never set at run time. */
  declare readonly types: FlowTypeInfo<InputOf<C>, StreamOf<C>, ResultOf<C>>
  readonly #chunks = new Map<string, Chunk>()
  readonly #collections = new Map<string, string[]>()
  readonly #executionDefaults: Omit<ExecutionOptions, 'id'>

  constructor(options: TriggerFlowOptions<C>) {
    this.name = options.name
    this.contract = options.contract ?? ({} as C)
    this.description = options.description
    this.exampleInput = options.exampleInput
    this.skipExceptions = options.skipExceptions ?? false
    this.#executionDefaults = options.execution ?? {}
    this.main = new Process(this)
  }

  /** Defines a named chunk; pass it to `.to(...)`, `batch`, `sideBranch` or `when`. */
  chunk<V = any>(
    name: string,
    handler: (data: RuntimeData<InputOf<C>, StreamOf<C>, ResultOf<C>, V>) => unknown,
  ): Chunk<InputOf<C>, StreamOf<C>, ResultOf<C>> {
    const chunk: Chunk = { kind: 'chunk', name, handler: handler as ChunkHandler }
    this.#chunks.set(name, chunk)
    return chunk
  }

  /** Appends to the START chain and returns it for chaining. */
  to(target: Target, options?: SubFlowOptions): Process {
    return this.main.to(target, options)
  }

  /** Appends a child flow to the START chain. */
  toSubFlow(child: FlowDefinition, options?: SubFlowOptions): Process {
    return this.main.toSubFlow(child, options)
  }

  /** Runs `target` beside the START chain; see Process.sideBranch. */
  sideBranch(target: Target, options?: SubFlowOptions): Process {
    return this.main.sideBranch(target, options)
  }

  /** Runs the targets concurrently on the START value; see Process.batch. */
  batch(...targets: Target[]): Process {
    return this.main.batch(...targets)
  }

  /** Opens a forEach block on the START chain; see Process.forEach. */
  forEach(options?: { concurrency?: number }): ForEachChain<Process> {
    return this.main.forEach(options)
  }

  /** Opens a match block on the START chain; see Process.match. */
  match(options?: { mode?: MatchMode }): MatchBlock<Process> {
    return this.main.match(options)
  }

  /** Collects the START chain's value into `name`; see Process.collect. */
  collect(name: string, branchId?: string, options?: { mode?: CollectMode }): Process {
    return this.main.collect(name, branchId, options)
  }

  /** A detached chain, for `sideBranch`, `batch` or `.to` when one target is not enough. */
  branch(): Process {
    return new Process(this)
  }

  /**
   * A chain that runs when the triggers fire. One trigger: its value. Several: `and` waits for
   * all and delivers `{ event: {..}, chunk: {..}, collect: {..} }` (then starts over), `or`
   * delivers `{ type, name, value }` on each, `simple_or` delivers the value on each.
   */
  when(trigger: WhenTrigger | WhenTrigger[], options: { mode?: WhenMode } = {}): Process {
    const list = Array.isArray(trigger) ? trigger : [trigger]
    const process = new Process(this)
    this.whens.push({ triggers: list.map((t) => this.#triggerKey(t)), mode: options.mode ?? 'and', process })
    return process
  }

  /** Creates an execution (not started: call `start`, or read its runtime stream). */
  createExecution(options: ExecutionOptions = {}): Execution<InputOf<C>, StreamOf<C>, ResultOf<C>> {
    const merged: ExecutionOptions = { ...this.#executionDefaults, ...options }
    return new Execution<InputOf<C>, StreamOf<C>, ResultOf<C>>(this, merged)
  }

  /** @internal Registers one branch of collection `name`; returns its id. */
  registerCollectBranch(name: string, branchId?: string): string {
    const branches = this.#collections.get(name) ?? []
    this.#collections.set(name, branches)
    const id = branchId ?? `branch_${branches.length + 1}`
    if (!branches.includes(id)) branches.push(id)
    return id
  }

  /** @internal The branch ids of collection `name`, in registration order. */
  collectionBranches(name: string): readonly string[] {
    return this.#collections.get(name) ?? []
  }

  #triggerKey(trigger: WhenTrigger): string {
    if (typeof trigger === 'string')
      return this.#chunks.has(trigger) ? `chunk:${trigger}` : `event:${trigger}`
    if ('kind' in trigger) return `chunk:${trigger.name}`
    if ('collect' in trigger) return `collect:${trigger.collect}`
    return `event:${trigger.event}`
  }
}

export type { FlowTypes } from '@flowcast/protocol'
