/**
 * The engine's internal seam, not part of the package's API (nothing here is exported from
 * flows/index.ts): what a run reads of its flow definition, and what the steps and the runtime
 * data reach of the run that executes them. The public Execution hands steps this host instead
 * of itself, so its own surface stays the documented API. Types only, so that the builder
 * (flow, process) and the runner (execution) both depend on this file and never on each other's
 * internals.
 */
import type { FlowContract } from '../contract.ts'
import type { PauseOptions } from '../interrupt.ts'
import type { StateStore } from '../state.ts'

/** Anything a run can feed a value through: a chain of steps, or one step. */
export interface Runnable {
  run(host: ExecutionHost, value: unknown): Promise<unknown>
}

/** A `when` handler: internal trigger keys (`event:<name>`, `chunk:<name>`, `collect:<name>`). */
export interface WhenHandler {
  readonly triggers: string[]
  readonly mode: 'and' | 'or' | 'simple_or'
  readonly process: Runnable
}

/** What a run reads of its flow; TriggerFlow is the one implementation. */
export interface FlowDefinition {
  readonly kind: 'flow'
  readonly name: string
  readonly contract: FlowContract
  readonly skipExceptions: boolean
  /** The chain that runs on START. */
  readonly main: Runnable
  readonly whens: readonly WhenHandler[]
  /** The branch ids of collection `name`, in registration order. */
  collectionBranches(name: string): readonly string[]
}

export type CollectMode = 'filled_and_update' | 'filled_then_empty'

/** What steps and runtime data reach of the run executing them. */
export interface ExecutionHost {
  readonly id: string
  readonly flowName: string
  /** The execution's start input. */
  readonly input: unknown
  /** Aborted when the execution is cancelled or fails. */
  readonly signal: AbortSignal
  readonly state: StateStore
  /** Puts a flow item into the stream after checking the stream contract; false when the stream is closed. */
  put(item: unknown): boolean
  stopStream(by: string): boolean
  /** Fires `when(event)` handlers; resolves when they finish. */
  emit(event: string, value?: unknown): Promise<void>
  setResult(value: unknown): void
  /** Raises an interrupt; resolves with its answer. */
  pause(options: PauseOptions): Promise<unknown>
  /** Tracks a unit of work; the run completes when none is left, and fails when one throws. */
  track<T>(work: () => Promise<T>): Promise<T>
  /** Runs a child flow to its result, bridging its stream unless told not to. */
  runChild(child: FlowDefinition, input: unknown, bridgeStream: boolean): Promise<unknown>
  /** Stores a branch's value in collection `name`; the filled map, or undefined while unfilled. */
  collect(name: string, branchId: string, value: unknown, mode: CollectMode): unknown
  /** A chunk finished: fires its `when(chunk)` handlers beside the chain. */
  chunkDone(name: string, value: unknown): Promise<void>
  /** Records an error a `skipExceptions` flow swallows; false when the flow does not skip (rethrow it). */
  skip(chunk: string, error: unknown): boolean
}
