/**
 * The saved form of an execution: versioned, JSON-serialisable, restorable by another process
 * that has the same flow (same wiring code gives the same node ids). It holds the state, every
 * interrupt (with its history), where each branch stands (parked at an interrupt, inside a block,
 * half-way through a join or collection, or running a step, which runs again after a load) and
 * the stream position, so a restored execution's stream goes on at `lastSeq + 1`. The stream's
 * items themselves are not in it: the runtime stream is observability, never the source of truth.
 */
import { type ExecutionStatus, FlowcastError } from '@flowcast/protocol'
import type { InterruptInfo, ResumeInfo } from './interrupt.ts'
import type { TriggerType } from './runtime-data.ts'
import type { StreamClose } from './stream-log.ts'

export const SNAPSHOT_VERSION = 1 as const
export const SNAPSHOT_KIND = 'flowcast.execution' as const

/** Where a branch is: the run it belongs to (scope) and the block slot its end delivers to. */
export interface Frame {
  readonly scope: string
  readonly sink?: { readonly inv: string; readonly slot: string }
}

export interface Trigger {
  readonly event: string
  readonly type: TriggerType
}

/** A step that was running when the snapshot was taken: it runs again after a load. */
export interface SavedRun {
  nodeId: string
  value: unknown
  frame: Frame
  trigger: Trigger
  resume?: ResumeInfo
  /** How often this step has been started (1 for the first run). */
  attempt: number
}

/** A block (batch, forEach, match, inline chain) waiting for its slots. */
export interface SavedInvocation {
  id: string
  nodeId: string
  frame: Frame
  input: unknown
  shape: 'object' | 'array' | 'single'
  expected: string[]
  queue: string[]
  slots: Record<string, unknown>
  filled: string[]
  inFlight: number
  concurrency: number
}

/** An interrupt and, while it waits, where its branch parked. */
export interface SavedInterrupt {
  info: InterruptInfo
  at?: { nodeId: string; chunk: string; frame: Frame; input: unknown; trigger: Trigger; resumeCount: number }
}

/** A child flow run waiting at an interrupt (running children are refused by save). */
export interface SavedSubFlow {
  frameId: string
  nodeId: string
  flow: string
  frame: Frame
  child: ExecutionSnapshot
}

export interface ExecutionSnapshot {
  version: typeof SNAPSHOT_VERSION
  kind: typeof SNAPSHOT_KIND
  flow: string
  executionId: string
  status: ExecutionStatus
  lifecycle: 'open' | 'sealed' | 'closed'
  savedAt: number
  createdAt: number
  input: unknown
  state: Record<string, unknown>
  result?: { value: unknown }
  interrupts: SavedInterrupt[]
  running: SavedRun[]
  invocations: SavedInvocation[]
  joins: { key: string; arrived: [string, unknown][] }[]
  collections: { key: string; slots: Record<string, unknown> }[]
  subFlows: SavedSubFlow[]
  stream: { lastSeq: number; close?: StreamClose }
  /** Ids of `execution.on(...)` bindings: live handlers are not saved; bind them again after a load. */
  bindings: string[]
  /** Counter behind generated scope and invocation ids, so restored ones never collide. */
  counter: number
}

/** Checks that `value` is a snapshot this engine can load for flow `flow`; throws `invalid_snapshot` otherwise. */
export function checkSnapshot(value: unknown, flow: string): ExecutionSnapshot {
  const snap = value as Partial<ExecutionSnapshot> | null
  if (typeof snap !== 'object' || snap === null || snap.kind !== SNAPSHOT_KIND)
    throw new FlowcastError('invalid_snapshot', 'not a flowcast execution snapshot')
  if (snap.version !== SNAPSHOT_VERSION)
    throw new FlowcastError(
      'invalid_snapshot',
      `snapshot version ${String(snap.version)} is not ${SNAPSHOT_VERSION}`,
    )
  if (snap.flow !== flow)
    throw new FlowcastError(
      'invalid_snapshot',
      `snapshot of flow "${String(snap.flow)}" cannot load into flow "${flow}"`,
    )
  return snap as ExecutionSnapshot
}

/**
 * A JSON round trip of `snap`: what another process would read, and a check that it survives one
 * and, when `maxBytes` is given, that its JSON is no larger (`payload_too_large` otherwise).
 */
export function toJson(snap: ExecutionSnapshot, maxBytes?: number): ExecutionSnapshot {
  let json: string
  try {
    json = JSON.stringify(snap)
  } catch (err) {
    throw new FlowcastError(
      'invalid_snapshot',
      `execution ${snap.executionId} is not JSON-serialisable: ${String(err)}`,
      {
        cause: err,
      },
    )
  }
  if (maxBytes !== undefined && Buffer.byteLength(json) > maxBytes)
    throw new FlowcastError(
      'payload_too_large',
      `execution ${snap.executionId}: its snapshot is ${Buffer.byteLength(json)} bytes, over the ${maxBytes} byte limit`,
    )
  return JSON.parse(json) as ExecutionSnapshot
}
