/**
 * What a chunk handler receives: its incoming value (`data.input`, as in TriggerFlow 4.1, or
 * `data.value`), what triggered it, and the handles on the three channels (stream, state,
 * result) plus events and interrupts.
 */
import type { z } from 'zod'
import type { ChunkHost, StreamPort } from './internal/host.ts'
import type { PauseOptions, PauseSignal, ResumeInfo } from './interrupt.ts'
import type { DataStore, StateStore } from './state.ts'

export type { PauseOptions } from './interrupt.ts'

// A settled promise is immutable, so every put shares one per answer instead of making its own.
const PUT = Promise.resolve(true)
const DROPPED = Promise.resolve(false)

/** What set a chunk running: the start, an event, a chunk's output, a collection, a state or flow-data change. */
export type TriggerType = 'start' | 'event' | 'chunk' | 'collect' | 'state' | 'flowData' | 'resume'

/** Runtime data handed to every chunk handler. */
export class RuntimeData<_I = unknown, S = unknown, R = unknown, V = unknown> {
  /** The value the previous step produced (the start input for the first step, the payload for an event). */
  readonly value: V
  /** The chunk this data was made for. */
  readonly chunkName: string
  /** The trigger's name: `'START'`, the event's name, the chunk's, the collection's or the state path. */
  readonly event: string
  readonly triggerType: TriggerType
  /** True when this run is the paused chunk running again after `continueWith` (`resumeTo: 'self'`). */
  readonly isResume: boolean
  /** The answer and interrupt of a `resumeTo: 'self'` run. */
  readonly resume: ResumeInfo | undefined
  /** 1 for a step's first run; more when it runs again after a load (a step is run at least once). */
  readonly attempt: number
  readonly #host: ChunkHost
  readonly #stream: StreamPort

  /** @internal */
  constructor(
    host: ChunkHost,
    value: V,
    chunkName: string,
    trigger: { event: string; type: TriggerType },
    resume?: ResumeInfo,
    attempt = 1,
  ) {
    this.#host = host
    this.#stream = host.stream
    this.attempt = attempt
    this.value = value
    this.chunkName = chunkName
    this.event = trigger.event
    this.triggerType = trigger.type
    this.isResume = resume !== undefined
    this.resume = resume
  }

  /** The incoming value (TriggerFlow 4.1's `data.input`): same as `value`. */
  get input(): V {
    return this.value
  }

  get executionId(): string {
    return this.#host.executionId
  }

  /** Aborted when the execution is cancelled or fails: long work should listen to it. */
  get signal(): AbortSignal {
    return this.#host.signal
  }

  /** Recoverable state of this execution (dot-path keys). */
  get state(): StateStore {
    return this.#host.state
  }

  /** Data shared by every execution of this flow. */
  get flowData(): DataStore {
    return this.#host.flowData
  }

  /** Puts an item into the runtime stream; resolves false when the stream is closed and the item was dropped. */
  putIntoStream(item: S): Promise<boolean> {
    try {
      return this.#stream.put(item) ? PUT : DROPPED
    } catch (err) {
      return Promise.reject(err)
    }
  }

  /** Closes the runtime stream (not the execution); idempotent. */
  stopStream(): Promise<boolean> {
    return Promise.resolve(this.#host.stopStream())
  }

  /** Emits an event to this execution's `when` handlers; resolves when they settle, rejects with their error. */
  emit(event: string, value?: unknown): Promise<void> {
    return this.#host.emit(event, value)
  }

  /** Emits an event without waiting for its handlers. */
  emitNowait(event: string, value?: unknown): void {
    this.#host.emitNowait(event, value)
  }

  /** Sets the execution's result (as `.end()` does); it wins over the close snapshot. */
  setResult(value: R): void {
    this.#host.setResult(value)
  }

  /**
   * Pauses for an outside answer: records an interrupt, puts it into the stream, and returns the
   * signal to return from the chunk, which parks this branch until `continueWith` resumes it.
   */
  pauseFor<P = unknown>(options: PauseOptions<P> & { answer?: z.ZodType }): PauseSignal {
    return this.#host.pause(options)
  }
}
