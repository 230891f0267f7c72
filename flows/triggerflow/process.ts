/**
 * The chain builder. A Process is a position in the flow's wiring: the outlets that the next
 * `.to(...)` attaches to. As in TriggerFlow, two `.to(...)` on one process are two listeners of
 * the same output, so they run in parallel; `.to(...)` returns the position after the new node.
 * Blocks (forEach, match, batch) own bodies of their own and close back onto the chain. Running
 * the same wiring code twice on one flow adds nothing the second time.
 */
import { type Chunk, type ChunkHandler, toChunk } from './chunk.ts'
import type {
  CollectMode,
  Condition,
  FlowDefinition,
  Graph,
  GraphNode,
  MatchMode,
  Outlets,
  SubFlowOptions,
} from './graph.ts'

export type { Chunk, ChunkHandler } from './chunk.ts'
export type {
  Capture,
  CollectMode,
  Condition,
  MatchMode,
  SubFlowOptions,
  WhenMode,
  WriteBack,
} from './graph.ts'

/** What `.to(...)` accepts: a chunk, a bare handler, a child flow or a detached process. */
export type Target = Chunk | ChunkHandler | FlowDefinition | Process

/** A batch member: a target, or `[name, target]` to name its key in the output. */
export type BatchTarget = Target | readonly [string, Target]

export interface BatchOptions {
  /** Most branches running at once (default: all). */
  concurrency?: number
}

function isFlow(target: unknown): target is FlowDefinition {
  return typeof target === 'object' && target !== null && (target as { kind?: unknown }).kind === 'flow'
}

function isBatchOptions(value: unknown): value is BatchOptions {
  return (
    typeof value === 'object' &&
    value !== null &&
    !Array.isArray(value) &&
    !(value instanceof Process) &&
    (value as { kind?: unknown }).kind === undefined
  )
}

/** The name a target goes by in batch outputs (bare handlers are chunks by then). */
function targetName(target: Target, index: number): string {
  if (target instanceof Process) return `branch_${index}`
  if (isFlow(target)) return target.name
  return typeof target === 'function' ? target.name : target.name
}

function bound(concurrency: number | undefined): number {
  return Math.max(1, Math.floor(concurrency ?? Number.POSITIVE_INFINITY))
}

/** A position in the wiring; every builder method attaches there and returns the next position. */
export class Process {
  /** @internal */
  constructor(
    protected readonly graph: Graph,
    /** @internal The outlets the next `.to(...)` attaches to. */
    readonly outlets: Outlets,
    /** @internal Where the chain this position belongs to starts (what a detached branch runs). */
    readonly root: Outlets = outlets,
  ) {}

  /** The same kind of position (inside the same block and chain) at `outlets`. */
  protected derive(outlets: Outlets): this {
    return new Process(this.graph, outlets, this.root) as this
  }

  /** Runs `target` on this position's value; returns the position after it (its output). */
  to(target: Target, options?: SubFlowOptions): this {
    return this.#after(this.#attach(this.outlets, target, options))
  }

  /** Runs a child flow; its result (or close snapshot) is the next value; see SubFlowOptions. */
  toSubFlow(child: FlowDefinition, options?: SubFlowOptions): this {
    return this.to(child, options)
  }

  /** Runs `target` beside the chain with the current value; the chain goes on with the same value. */
  sideBranch(target: Target, options?: SubFlowOptions): this {
    const entry: Outlets = []
    this.#attach(entry, target, options)
    return this.#after(this.graph.add(this.outlets, (id) => ({ id, kind: 'side', next: [], entry })))
  }

  /**
   * Runs the targets concurrently on the same value (at most `concurrency` at once when the last
   * argument is `{ concurrency }`); the next value maps each target's name to its output.
   */
  batch(...args: (BatchTarget | BatchOptions)[]): this {
    const last = args[args.length - 1]
    const options = isBatchOptions(last) ? (args.pop() as BatchOptions) : {}
    const branches = (args as BatchTarget[]).map((member, i) => {
      // A bare handler becomes one chunk here, so its key and its node share one name.
      const given = Array.isArray(member) ? (member as readonly [string, Target])[1] : (member as Target)
      const target = typeof given === 'function' ? toChunk(given, () => this.graph.anonymousName()) : given
      const name = Array.isArray(member) ? (member as readonly [string, Target])[0] : targetName(target, i)
      const entry: Outlets = []
      this.#attach(entry, target)
      return { name, entry }
    })
    const concurrency = bound(options.concurrency)
    return this.#after(
      this.graph.add(this.outlets, (id) => ({ id, kind: 'batch', next: [], branches, concurrency })),
    )
  }

  /**
   * Opens a block run once per item of the current value (an array; anything else is one item);
   * the next value is the list of outputs in input order; an empty list gives `[]` at once.
   */
  forEach(options: { concurrency?: number } = {}): ForEachChain<this> {
    const entry: Outlets = []
    const node = this.graph.add(this.outlets, (id) => ({
      id,
      kind: 'forEach' as const,
      next: [],
      entry,
      concurrency: bound(options.concurrency),
    }))
    return new ForEachChain(this.graph, entry, this.#after(node))
  }

  /**
   * Opens a match block. `hit_first` (default): the first case that holds runs. `hit_all`: every
   * case that holds runs, concurrently; the next value is their outputs in case order. No case
   * and no else passes the value on unchanged.
   */
  match(options: { mode?: MatchMode } = {}): MatchBlock<this> {
    const node = this.graph.add(this.outlets, (id) => ({
      id,
      kind: 'match' as const,
      next: [],
      mode: options.mode ?? 'hit_first',
      cases: [],
    }))
    return new MatchBlock(this.graph, node, this.#after(node))
  }

  /** `match().case(condition)`: opens an if / elif / else block closed by `endCondition()`. */
  ifCondition(condition: Condition): CaseChain<this> {
    return this.match().case(condition)
  }

  /**
   * Collects this branch's value into `name`. Once every branch that collects into `name` has
   * delivered (within one run), the branch that filled it goes on with `{ [branchId]: value }`
   * and `when({ collect: name })` handlers run; a branch that did not fill it ends here.
   */
  collect(name: string, branchId?: string, options: { mode?: CollectMode } = {}): this {
    const id = this.graph.collectBranch(name, branchId)
    const mode = options.mode ?? 'filled_and_update'
    const existing = this.#existing((n) => n.kind === 'collect' && n.name === name && n.branchId === id)
    if (existing) return this.#after(existing)
    return this.#after(
      this.graph.add(this.outlets, (nid) => ({
        id: nid,
        kind: 'collect',
        next: [],
        name,
        branchId: id,
        mode,
      })),
    )
  }

  /** Ends the chain here: its value becomes the execution's result. */
  end(): this {
    const existing = this.#existing((n) => n.kind === 'end')
    if (existing) return this.#after(existing)
    return this.#after(this.graph.add(this.outlets, (id) => ({ id, kind: 'end', next: [] })))
  }

  #existing(test: (node: GraphNode) => boolean): GraphNode | undefined {
    for (const id of this.outlets) {
      const node = this.graph.nodes.get(id)
      if (node && test(node)) return node
    }
    return undefined
  }

  #attach(outlets: Outlets, target: Target, options: SubFlowOptions = {}): GraphNode {
    const found = outlets
      .map((id) => this.graph.nodes.get(id))
      .find((n) => {
        if (!n) return false
        if (target instanceof Process) return n.kind === 'inline' && n.entry === target.root
        if (isFlow(target)) return n.kind === 'subflow' && n.flow === target
        const handler = typeof target === 'function' ? target : target.handler
        return n.kind === 'chunk' && n.chunk.handler === handler
      })
    if (found) return found
    if (target instanceof Process) {
      return this.graph.add(outlets, (id) => ({ id, kind: 'inline', next: [], entry: target.root }))
    }
    if (isFlow(target))
      return this.graph.add(outlets, (id) => ({ id, kind: 'subflow', next: [], flow: target, options }))
    const chunk = toChunk(target, () => this.graph.anonymousName())
    return this.graph.add(outlets, (id) => ({ id, kind: 'chunk', next: [], chunk }))
  }

  #after(node: GraphNode): this {
    this.graph.touch()
    return this.derive(node.next)
  }
}

/** A forEach body; `endForEach()` returns the position after the block. */
export class ForEachChain<P> extends Process {
  /** @internal */
  constructor(
    graph: Graph,
    entry: Outlets,
    private readonly after: P,
  ) {
    super(graph, entry)
  }

  protected override derive(outlets: Outlets): this {
    const next = new ForEachChain(this.graph, outlets, this.after) as this
    ;(next as { root: Outlets }).root = this.root
    return next
  }

  /** Closes the block. */
  endForEach(): P {
    return this.after
  }
}

/** A match block before its first case. */
export class MatchBlock<P> {
  /** @internal */
  constructor(
    protected readonly graph: Graph,
    protected readonly node: Extract<GraphNode, { kind: 'match' }>,
    protected readonly after: P,
  ) {}

  /** Opens a case: a predicate on the runtime data (hits on exactly `true`), or a value compared deeply with the input. */
  case(condition: Condition): CaseChain<P> {
    const found = this.node.cases.find((c) => c.condition === condition)
    const entry: Outlets = found ? found.entry : []
    if (!found) this.node.cases.push({ condition, entry })
    this.graph.touch()
    return new CaseChain(this.graph, this.node, this.after, entry)
  }

  /** Opens the case that runs when no other matched. */
  caseElse(): CaseChain<P> {
    this.node.otherwise ??= []
    this.graph.touch()
    return new CaseChain(this.graph, this.node, this.after, this.node.otherwise)
  }

  /** Closes the block. */
  endMatch(): P {
    return this.after
  }
}

/** The chain of one case; `.case`, `.caseElse`, `.endMatch` (and the if/elif/else aliases) go on with the block. */
export class CaseChain<P> extends Process {
  /** @internal */
  constructor(
    graph: Graph,
    private readonly node: Extract<GraphNode, { kind: 'match' }>,
    private readonly after: P,
    entry: Outlets,
  ) {
    super(graph, entry)
  }

  protected override derive(outlets: Outlets): this {
    const next = new CaseChain(this.graph, this.node, this.after, outlets) as this
    ;(next as { root: Outlets }).root = this.root
    return next
  }

  /** Opens the next case. */
  case(condition: Condition): CaseChain<P> {
    return new MatchBlock(this.graph, this.node, this.after).case(condition)
  }

  /** Opens the else case. */
  caseElse(): CaseChain<P> {
    return new MatchBlock(this.graph, this.node, this.after).caseElse()
  }

  /** Closes the block. */
  endMatch(): P {
    return this.after
  }

  /** Alias of `case`, for if / elif / else blocks. */
  elifCondition(condition: Condition): CaseChain<P> {
    return this.case(condition)
  }

  /** Alias of `caseElse`. */
  elseCondition(): CaseChain<P> {
    return this.caseElse()
  }

  /** Alias of `endMatch`. */
  endCondition(): P {
    return this.endMatch()
  }
}
