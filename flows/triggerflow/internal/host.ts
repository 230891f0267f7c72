/**
 * The engine's internal seam, not part of the package's API (nothing here is exported from
 * flows/index.ts): what a chunk's runtime data reaches of the run executing it. The public
 * Execution hands each chunk run such a host instead of itself, so its own surface stays the
 * documented API. Types only.
 */
import type { PauseOptions, PauseSignal } from '../interrupt.ts'
import type { DataStore, StateStore } from '../state.ts'

/** What one chunk run reaches of its execution. */
export interface ChunkHost {
  readonly executionId: string
  /** Aborted when the execution is cancelled or fails. */
  readonly signal: AbortSignal
  readonly state: StateStore
  readonly flowData: DataStore
  /** The run's way into the runtime stream (RuntimeData keeps it, not the host: one read less per put). */
  readonly stream: StreamPort
  stopStream(): boolean
  /** Fires `when(event)` handlers in this run's scope; resolves when they settle, rejects with their error. */
  emit(event: string, value: unknown): Promise<void>
  /** Fires `when(event)` handlers without waiting for them. */
  emitNowait(event: string, value: unknown): void
  setResult(value: unknown): void
  /** Records an interrupt and returns the signal that parks this chunk's branch. */
  pause(options: PauseOptions): PauseSignal
}

/** Where a chunk run's items go. */
export interface StreamPort {
  /** Puts a flow item into the stream after checking the stream contract; false when the stream is closed. */
  put(item: unknown): boolean
}
