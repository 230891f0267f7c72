/**
 * Chunks: named handlers. A handler gets the runtime data and returns the value for the next
 * step (or the pause signal `data.pauseFor(...)` returns, which parks its branch).
 */
import type { RuntimeData } from './runtime-data.ts'

/** A chunk handler: gets the runtime data, returns the value for the next step. */
export type ChunkHandler<I = any, S = any, R = any> = (data: RuntimeData<I, S, R, any>) => unknown

/** A named handler, made with `flow.chunk(name, handler)`. */
export interface Chunk<I = any, S = any, R = any> {
  readonly kind: 'chunk'
  readonly name: string
  readonly handler: ChunkHandler<I, S, R>
}

/**
 * Wraps a bare handler into a chunk named after the function, or `fallback()` for an anonymous
 * one (the flow numbers those in wiring order, so every instance of a flow names them alike).
 */
export function toChunk(target: Chunk | ChunkHandler, fallback: () => string): Chunk {
  if (typeof target !== 'function') return target
  return { kind: 'chunk', name: target.name || fallback(), handler: target }
}
