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

let anonymous = 0

/** Wraps a bare handler into a chunk named after the function (or a generated name). */
export function toChunk(target: Chunk | ChunkHandler): Chunk {
  if (typeof target !== 'function') return target
  return { kind: 'chunk', name: target.name || `chunk_${++anonymous}`, handler: target }
}
