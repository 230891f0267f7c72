/**
 * What a chunk handler receives: its incoming value, the execution's input, and the handles on
 * the three channels (stream, state, result) plus events and interrupts.
 */
import type { z } from 'zod'
import type { ExecutionHost } from './internal/host.ts'
import type { PauseOptions } from './interrupt.ts'
import type { StateStore } from './state.ts'

export type { PauseOptions } from './interrupt.ts'

/** Runtime data handed to every chunk handler. */
export class RuntimeData<I = unknown, S = unknown, R = unknown, V = unknown> {
  /** The value the previous step produced (the start input for the first step). */
  readonly value: V
  /** The chunk this data was made for. */
  readonly chunkName: string
  readonly #core: ExecutionHost

  constructor(core: ExecutionHost, value: V, chunkName: string) {
    this.#core = core
    this.value = value
    this.chunkName = chunkName
  }

  /** The input the execution was started with. */
  get input(): I {
    return this.#core.input as I
  }

  get executionId(): string {
    return this.#core.id
  }

  /** Aborted when the execution is cancelled or fails: long work should listen to it. */
  get signal(): AbortSignal {
    return this.#core.signal
  }

  /** Recoverable state of this execution. */
  get state(): StateStore {
    return this.#core.state
  }

  /** Puts an item into the runtime stream; resolves false when the stream is closed and the item was dropped. */
  putIntoStream(item: S): Promise<boolean> {
    try {
      return Promise.resolve(this.#core.put(item))
    } catch (err) {
      return Promise.reject(err)
    }
  }

  /** Closes the runtime stream (not the execution); idempotent. */
  stopStream(): Promise<boolean> {
    return Promise.resolve(this.#core.stopStream('flow'))
  }

  /** Emits an event to this execution's `when` handlers. */
  emit(event: string, value?: unknown): Promise<void> {
    return this.#core.emit(event, value)
  }

  /** Sets the execution's result; it wins over the main chain's last value. */
  setResult(value: R): void {
    this.#core.setResult(value)
  }

  /** Pauses for an outside answer: puts an interrupt into the stream and resolves with the answer. */
  pauseFor<A = unknown, P = unknown>(options: PauseOptions<P> & { answer?: z.ZodType<A> }): Promise<A> {
    return this.#core.pause(options) as Promise<A>
  }
}
