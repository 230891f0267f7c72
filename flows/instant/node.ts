/**
 * An instant node: one value of a JSON document that a model is still writing, seen at one moment.
 * Paths are arrays of keys and indexes, so a key `"a.b"` and a key `b` inside `a` never look alike.
 */
import { z } from 'zod'

/** Where a node sits in the document: object keys (strings) and array indexes (numbers), root = []. */
export type NodePath = (string | number)[]

/** One observation of a node: a growing string (isComplete false) or a value that is whole. */
export interface InstantNode {
  path: NodePath
  /** The whole value once complete; for a string still being written, the text so far. */
  value: unknown
  /** Strings only: what the text grew by since this node was last reported. */
  delta?: string
  isComplete: boolean
}

/** A node as a runtime-stream item; `attempt` (1, 2, ...) tells a retried model call's nodes apart. */
export interface InstantNodeItem extends InstantNode {
  type: 'node'
  attempt: number
}

/** The stream-contract schema of a node item, for flows that put nodes into their stream. */
export const instantNodeItem = z.object({
  type: z.literal('node'),
  path: z.array(z.union([z.string(), z.number().int().min(0)])),
  value: z.unknown(),
  delta: z.string().optional(),
  isComplete: z.boolean(),
  attempt: z.number().int().min(1),
})

/** Matches any one path segment in `matchPath` (a symbol, so no real key can be mistaken for it). */
export const ANY: unique symbol = Symbol('any path segment')

/** True when `path` has the same length as `pattern` and every segment equals it or is ANY. */
export function matchPath(path: NodePath, pattern: readonly (string | number | typeof ANY)[]): boolean {
  if (path.length !== pattern.length) return false
  for (let i = 0; i < path.length; i++) if (pattern[i] !== ANY && pattern[i] !== path[i]) return false
  return true
}
