/**
 * A flow's wiring as data: nodes with ids assigned in wiring order and the trigger keys they
 * listen to. The builder (process.ts) appends to it; every execution runs a frozen copy made when
 * it was created, so wiring added later never reaches a run already under way, and the same
 * wiring code yields the same ids in every process (what a saved execution's positions refer to).
 */
import type { Chunk } from './chunk.ts'
import type { FlowContract } from './contract.ts'
import type { StateStore } from './state.ts'

/** Where the next `.to(...)` attaches: the list of node ids that run on a trigger or after a node. */
export type Outlets = string[]

export type MatchMode = 'hit_first' | 'hit_all'
export type CollectMode = 'filled_and_update' | 'filled_then_empty'
export type WhenMode = 'and' | 'or' | 'simple_or'

/** A match case's condition: a predicate on the runtime data (exactly `true` hits) or a value compared deeply. */
export type Condition = ((data: any) => unknown) | string | number | boolean | null | object

/** Maps parent values into a child flow's start input. */
export interface Capture {
  /** `'value'` (default), `'state.<path>'` or `'flowData.<path>'`. */
  input?: string
}

/**
 * Maps a child flow's outcome back into the parent: keys are targets (`'value'` for the parent's
 * next value, `'state.<path>'`), values are sources (`'result'`, `'result.<path>'`, `'snapshot'`,
 * `'snapshot.<path>'`).
 */
export type WriteBack = Record<string, string>

export interface SubFlowOptions {
  /** Bridge the child's stream items into the parent stream (default true). */
  bridgeStream?: boolean
  capture?: Capture
  writeBack?: WriteBack
}

interface Base {
  readonly id: string
  /** Nodes that run on this node's output. */
  readonly next: Outlets
}

export type GraphNode =
  | (Base & { kind: 'chunk'; chunk: Chunk })
  | (Base & { kind: 'subflow'; flow: FlowDefinition; options: SubFlowOptions })
  | (Base & { kind: 'batch'; branches: { name: string; entry: Outlets }[]; concurrency: number })
  | (Base & { kind: 'forEach'; entry: Outlets; concurrency: number })
  | (Base & {
      kind: 'match'
      mode: MatchMode
      cases: { condition: Condition; entry: Outlets }[]
      otherwise?: Outlets
    })
  | (Base & { kind: 'collect'; name: string; branchId: string; mode: CollectMode })
  | (Base & { kind: 'side'; entry: Outlets })
  | (Base & { kind: 'inline'; entry: Outlets })
  | (Base & { kind: 'join'; triggers: string[]; mode: WhenMode })
  | (Base & { kind: 'end' })

/** What a run reads of its flow; TriggerFlow is the one implementation. */
export interface FlowDefinition {
  readonly kind: 'flow'
  readonly name: string
  readonly contract: FlowContract
  readonly skipExceptions: boolean
  /** Flow-wide data shared by every execution of the flow (4.1's flow_data). */
  readonly flowData: StateStore
  /** The wiring as it stands now. */
  compile(): CompiledGraph
}

/** A frozen copy of the wiring, as one execution runs it. */
export interface CompiledGraph {
  readonly nodes: ReadonlyMap<string, GraphNode>
  readonly listeners: ReadonlyMap<string, readonly string[]>
  readonly collections: ReadonlyMap<string, readonly string[]>
}

/** The mutable wiring of one flow. */
export class Graph {
  readonly nodes = new Map<string, GraphNode>()
  /** Trigger key (`start`, `event:x`, `chunk:x`, `collect:x`, `state:x`, `flowData:x`) -> listening node ids. */
  readonly listeners = new Map<string, Outlets>()
  readonly collections = new Map<string, string[]>()
  #counter = 0
  #anonymous = 0
  #compiled: CompiledGraph | undefined

  /** The outlets of a trigger key, made on first use. */
  on(trigger: string): Outlets {
    let list = this.listeners.get(trigger)
    if (!list) {
      list = []
      this.listeners.set(trigger, list)
      this.#compiled = undefined
    }
    return list
  }

  /** Adds a node (built by `make` with a fresh id) to `outlets`. */
  add<N extends GraphNode>(outlets: Outlets, make: (id: string) => N): N {
    const node = make(`n${++this.#counter}`)
    this.nodes.set(node.id, node)
    outlets.push(node.id)
    this.#compiled = undefined
    return node
  }

  /** The next name for an anonymous chunk handler. */
  anonymousName(): string {
    return `chunk_${++this.#anonymous}`
  }

  /** Marks the wiring changed (a node's outlets or a collection grew). */
  touch(): void {
    this.#compiled = undefined
  }

  /** Registers one branch of collection `name`; returns its id. */
  collectBranch(name: string, branchId?: string): string {
    const branches = this.collections.get(name) ?? []
    this.collections.set(name, branches)
    const id = branchId ?? `branch_${branches.length + 1}`
    if (!branches.includes(id)) branches.push(id)
    this.#compiled = undefined
    return id
  }

  /** The wiring as it stands, copied once per change. */
  compile(): CompiledGraph {
    if (this.#compiled) return this.#compiled
    const nodes = new Map<string, GraphNode>()
    for (const [id, node] of this.nodes) nodes.set(id, freeze(node))
    const listeners = new Map<string, readonly string[]>()
    for (const [key, list] of this.listeners) listeners.set(key, [...list])
    const collections = new Map<string, readonly string[]>()
    for (const [key, list] of this.collections) collections.set(key, [...list])
    this.#compiled = { nodes, listeners, collections }
    return this.#compiled
  }
}

function freeze(node: GraphNode): GraphNode {
  const copy = { ...node, next: [...node.next] } as GraphNode
  if (copy.kind === 'batch') copy.branches = copy.branches.map((b) => ({ name: b.name, entry: [...b.entry] }))
  if (copy.kind === 'forEach' || copy.kind === 'side' || copy.kind === 'inline') copy.entry = [...copy.entry]
  if (copy.kind === 'match') {
    copy.cases = copy.cases.map((c) => ({ condition: c.condition, entry: [...c.entry] }))
    if (copy.otherwise) copy.otherwise = [...copy.otherwise]
  }
  return copy
}
