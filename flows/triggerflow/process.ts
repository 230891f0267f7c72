/**
 * The chain builder and its steps. A Process is an ordered list of steps; running it feeds each
 * step the previous step's value. Blocks (forEach, match) are Processes of their own that close
 * back onto the chain they were opened on.
 */
import type { CollectMode, ExecutionHost, FlowDefinition, Runnable } from './internal/host.ts'
import { RuntimeData } from './runtime-data.ts'

export type { CollectMode } from './internal/host.ts'

/** A chunk handler: gets the runtime data, returns the value for the next step. */
export type ChunkHandler<I = any, S = any, R = any> = (data: RuntimeData<I, S, R, any>) => unknown

/** A named handler, made with `flow.chunk(name, handler)`. */
export interface Chunk<I = any, S = any, R = any> {
  readonly kind: 'chunk'
  readonly name: string
  readonly handler: ChunkHandler<I, S, R>
}

export interface SubFlowOptions {
  /** Bridge the child's stream items into the parent stream (default true). */
  bridgeStream?: boolean
}

/** What `.to(...)` accepts: a chunk, a bare handler, a child flow or a process. */
export type Target = Chunk | ChunkHandler | FlowDefinition | Process

type Exec = ExecutionHost

/** What a chain needs of the flow it is built on: a place to register collect branches. */
export interface Wiring {
  registerCollectBranch(name: string, branchId?: string): string
}

/** Returned by a step to end its branch here (a collect that waits for other branches). */
export const HALT: unique symbol = Symbol('halt')

type Step = Runnable

let anonymous = 0

/** Wraps a bare handler into a chunk with a stable name. */
export function toChunk(target: Chunk | ChunkHandler): Chunk {
  if (typeof target !== 'function') return target
  return { kind: 'chunk', name: target.name || `chunk_${++anonymous}`, handler: target }
}

function isFlow(target: unknown): target is FlowDefinition {
  return typeof target === 'object' && target !== null && (target as { kind?: unknown }).kind === 'flow'
}

/** The name a target goes by in batch results and `when` values. */
export function targetName(target: Target, index: number): string {
  if (target instanceof Process) return `branch_${index}`
  if (isFlow(target)) return target.name
  return toChunk(target).name
}

function stepFor(target: Target, options: SubFlowOptions = {}): Step {
  if (target instanceof Process) return { run: (exec, value) => target.run(exec, value) }
  if (isFlow(target)) return new SubFlowStep(target, options.bridgeStream ?? true)
  return new ChunkStep(toChunk(target))
}

class ChunkStep implements Step {
  constructor(private readonly chunk: Chunk) {}

  async run(exec: Exec, value: unknown): Promise<unknown> {
    if (exec.signal.aborted) throw exec.signal.reason
    let out: unknown
    try {
      out = await this.chunk.handler(new RuntimeData(exec, value, this.chunk.name))
    } catch (err) {
      if (exec.signal.aborted || !exec.skip(this.chunk.name, err)) throw err
      out = undefined
    }
    // when(chunk) handlers run beside the chain, not in front of it.
    void exec.chunkDone(this.chunk.name, out)
    return out
  }
}

class SubFlowStep implements Step {
  constructor(
    private readonly child: FlowDefinition,
    private readonly bridge: boolean,
  ) {}

  run(exec: Exec, value: unknown): Promise<unknown> {
    return exec.runChild(this.child, value, this.bridge)
  }
}

class SideBranchStep implements Step {
  constructor(private readonly step: Step) {}

  async run(exec: Exec, value: unknown): Promise<unknown> {
    void exec.track(() => this.step.run(exec, value))
    return value
  }
}

class BatchStep implements Step {
  constructor(private readonly branches: { name: string; step: Step }[]) {}

  async run(exec: Exec, value: unknown): Promise<unknown> {
    const results = await Promise.all(this.branches.map((b) => b.step.run(exec, value)))
    return Object.fromEntries(this.branches.map((b, i) => [b.name, results[i]]))
  }
}

class ForEachStep implements Step {
  constructor(
    private readonly body: Process,
    private readonly concurrency: number,
  ) {}

  async run(exec: Exec, value: unknown): Promise<unknown> {
    // As in TriggerFlow: a list is iterated, anything else (a string, an object) is one item.
    const items = Array.isArray(value) ? value : [value]
    const out = new Array<unknown>(items.length)
    let next = 0
    const worker = async () => {
      while (next < items.length) {
        const i = next++
        out[i] = await this.body.run(exec, items[i])
      }
    }
    await Promise.all(Array.from({ length: Math.min(this.concurrency, items.length) }, worker))
    return out
  }
}

type Condition = ((value: unknown) => boolean | Promise<boolean>) | string | number | boolean | null

export type MatchMode = 'hit_first' | 'hit_all'

class MatchStep implements Step {
  readonly cases: { condition: Condition; body: Process }[] = []
  otherwise: Process | undefined

  constructor(private readonly mode: MatchMode) {}

  async run(exec: Exec, value: unknown): Promise<unknown> {
    const hits: Process[] = []
    for (const c of this.cases) {
      // Exactly `true`, as TriggerFlow's `is True`: a truthy 1 or 'yes' is not a match.
      const hit =
        typeof c.condition === 'function'
          ? (await c.condition(value)) === true
          : Object.is(c.condition, value)
      if (!hit) continue
      if (this.mode === 'hit_first') return c.body.run(exec, value)
      hits.push(c.body)
    }
    if (hits.length > 0) return Promise.all(hits.map((body) => body.run(exec, value)))
    // No case and no else: the value passes through unchanged.
    return this.otherwise ? this.otherwise.run(exec, value) : value
  }
}

class CollectStep implements Step {
  constructor(
    private readonly name: string,
    private readonly branchId: string,
    private readonly mode: CollectMode,
  ) {}

  async run(exec: Exec, value: unknown): Promise<unknown> {
    const filled = exec.collect(this.name, this.branchId, value, this.mode)
    return filled === undefined ? HALT : filled
  }
}

/** A chain of steps; every builder method appends and returns the chain. */
export class Process {
  protected readonly steps: Step[] = []

  constructor(protected readonly flow: Wiring) {}

  /** Appends a chunk, handler, child flow or process; its output becomes the next value. */
  to(target: Target, options?: SubFlowOptions): this {
    this.steps.push(stepFor(target, options))
    return this
  }

  /** Appends a child flow; its result becomes the next value, its stream is bridged unless told not to. */
  toSubFlow(child: FlowDefinition, options?: SubFlowOptions): this {
    this.steps.push(new SubFlowStep(child, options?.bridgeStream ?? true))
    return this
  }

  /** Runs `target` beside the chain with the current value; the chain goes on with the same value. */
  sideBranch(target: Target, options?: SubFlowOptions): this {
    this.steps.push(new SideBranchStep(stepFor(target, options)))
    return this
  }

  /** Runs the targets concurrently on the same value; the next value maps each target's name to its output. */
  batch(...targets: Target[]): this {
    this.steps.push(new BatchStep(targets.map((t, i) => ({ name: targetName(t, i), step: stepFor(t) }))))
    return this
  }

  /**
   * Opens a block run once per item of the current value (an array; anything else is one item);
   * the next value is the list of outputs in input order. Items run concurrently, as in
   * TriggerFlow, unless `concurrency` bounds them.
   */
  forEach(options: { concurrency?: number } = {}): ForEachChain<this> {
    const body = new ForEachChain(this.flow, this)
    this.steps.push(new ForEachStep(body, Math.max(1, options.concurrency ?? Number.POSITIVE_INFINITY)))
    return body
  }

  /**
   * Opens a match block. `hit_first` (default): the first case whose condition holds runs.
   * `hit_all`: every case that holds runs, concurrently; the next value is their outputs in case
   * order. No case and no else passes the value on unchanged.
   */
  match(options: { mode?: MatchMode } = {}): MatchBlock<this> {
    const step = new MatchStep(options.mode ?? 'hit_first')
    this.steps.push(step)
    return new MatchBlock(this.flow, this, step)
  }

  /**
   * Collects this branch's value into `name`. Once every branch that collects into `name` has
   * delivered, the branch that filled it goes on with `{ [branchId]: value }` and
   * `when({ collect: name })` handlers run; a branch that did not fill it ends here.
   * `filled_and_update` (default) goes on again with the updated map on each later arrival;
   * `filled_then_empty` empties the map after each fill.
   */
  collect(name: string, branchId?: string, options: { mode?: CollectMode } = {}): this {
    const id = this.flow.registerCollectBranch(name, branchId)
    this.steps.push(new CollectStep(name, id, options.mode ?? 'filled_and_update'))
    return this
  }

  /** @internal Runs the chain on `value`; resolves with the last step's output (or HALT). */
  async run(exec: Exec, value: unknown): Promise<unknown> {
    let current = value
    for (const step of this.steps) {
      current = await step.run(exec, current)
      if (current === HALT) return HALT
    }
    return current
  }
}

/** A forEach block; `endForEach()` returns the chain it was opened on. */
export class ForEachChain<P> extends Process {
  constructor(
    flow: Wiring,
    private readonly parent: P,
  ) {
    super(flow)
  }

  /** Closes the block. */
  endForEach(): P {
    return this.parent
  }
}

/** A match block before its first case. */
export class MatchBlock<P> {
  constructor(
    protected readonly flow: Wiring,
    protected readonly parent: P,
    protected readonly step: MatchStep,
  ) {}

  /** Opens a case: `condition` is a predicate on the value, or a value compared with Object.is. */
  case(condition: Condition): CaseChain<P> {
    const body = new CaseChain(this.flow, this.parent, this.step)
    this.step.cases.push({ condition, body })
    return body
  }

  /** Opens the case that runs when no other matched. */
  caseElse(): CaseChain<P> {
    const body = new CaseChain(this.flow, this.parent, this.step)
    this.step.otherwise = body
    return body
  }

  /** Closes the block. */
  endMatch(): P {
    return this.parent
  }
}

/** The chain of one case; `.case`, `.caseElse` and `.endMatch` go on with the block. */
export class CaseChain<P> extends Process {
  constructor(
    flow: Wiring,
    private readonly parent: P,
    private readonly step: MatchStep,
  ) {
    super(flow)
  }

  /** Opens the next case. */
  case(condition: Condition): CaseChain<P> {
    return new MatchBlock(this.flow, this.parent, this.step).case(condition)
  }

  /** Opens the else case. */
  caseElse(): CaseChain<P> {
    return new MatchBlock(this.flow, this.parent, this.step).caseElse()
  }

  /** Closes the block. */
  endMatch(): P {
    return this.parent
  }
}
