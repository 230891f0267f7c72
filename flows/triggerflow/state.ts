/**
 * Recoverable workflow state: a JSON-shaped tree addressed by dot paths (`'a.b'` is `b` inside
 * `a`), part of the execution snapshot and never part of the runtime stream. A change can fire
 * `when({ state: path })` handlers, unless made with `{ emit: false }`.
 */

import { copyData } from './internal/copy-data.ts'

/** Options of a state write. */
export interface StateWriteOptions {
  /** Fire `when({ state: path })` handlers for this change (default true). */
  emit?: boolean
}

type Tree = Record<string, unknown>

/** The reading and writing side of a state tree: the execution's state, or the flow's shared data. */
export interface DataStore {
  get<V = unknown>(path: string, fallback?: V): V | undefined
  has(path: string): boolean
  set(path: string, value: unknown, options?: StateWriteOptions): void
  append(path: string, value: unknown, options?: StateWriteOptions): void
  delete(path: string, options?: StateWriteOptions): boolean
  snapshot(): Record<string, unknown>
}

function isTree(value: unknown): value is Tree {
  return typeof value === 'object' && value !== null && !Array.isArray(value)
}

/** A dot-path key/value tree. */
export class StateStore implements DataStore {
  #root: Tree = {}
  readonly #onChange: ((path: string, value: unknown) => void) | undefined

  /** `onChange` hears every write made with `emit` on. */
  constructor(onChange?: (path: string, value: unknown) => void) {
    this.#onChange = onChange
  }

  /** The value at `path`, or `fallback` when unset. */
  get<V = unknown>(path: string, fallback?: V): V | undefined {
    const found = this.#find(path)
    return found.has ? (found.value as V) : fallback
  }

  /** True when `path` is set (to anything, `undefined` included). */
  has(path: string): boolean {
    return this.#find(path).has
  }

  /** Sets `path` to `value`, making the objects on the way. */
  set(path: string, value: unknown, options: StateWriteOptions = {}): void {
    const keys = path.split('.')
    let node = this.#root
    for (const key of keys.slice(0, -1)) {
      const next = node[key]
      if (!isTree(next)) node[key] = {}
      node = node[key] as Tree
    }
    node[keys[keys.length - 1]!] = value
    if (options.emit !== false) this.#onChange?.(path, value)
  }

  /** Appends `value` to the list at `path`, making the list when absent (a scalar becomes its first element). */
  append(path: string, value: unknown, options: StateWriteOptions = {}): void {
    const current = this.get(path)
    const list =
      current === undefined ? [value] : Array.isArray(current) ? [...current, value] : [current, value]
    this.set(path, list, options)
  }

  /** Removes `path`; returns whether it was set. */
  delete(path: string, options: StateWriteOptions = {}): boolean {
    const keys = path.split('.')
    const parent = keys.length === 1 ? this.#root : this.#find(keys.slice(0, -1).join('.')).value
    const last = keys[keys.length - 1]!
    if (!isTree(parent) || !Object.hasOwn(parent, last)) return false
    delete parent[last]
    if (options.emit !== false) this.#onChange?.(path, undefined)
    return true
  }

  /** A deep copy of the whole tree, safe to hand out. */
  snapshot(): Record<string, unknown> {
    // Most executions never touch their state, and an execution snapshots it as it completes:
    // the copy of an empty tree is a new empty object, without structuredClone's serializer.
    for (const _ in this.#root) return copyData(this.#root)
    return {}
  }

  /** Replaces the whole tree with a copy of `tree` (a loaded snapshot); fires nothing. */
  restore(tree: Record<string, unknown>): void {
    this.#root = structuredClone(tree)
  }

  #find(path: string): { has: boolean; value?: unknown } {
    let node: unknown = this.#root
    for (const key of path.split('.')) {
      if (!isTree(node) || !Object.hasOwn(node, key)) return { has: false }
      node = node[key]
    }
    return { has: true, value: node }
  }
}

/** The value at dot path `path` inside `value` (undefined when absent); `''` is the value itself. */
export function readPath(value: unknown, path: string): { has: boolean; value?: unknown } {
  if (path === '') return { has: true, value }
  let node = value
  for (const key of path.split('.')) {
    if (typeof node !== 'object' || node === null || !Object.hasOwn(node, key)) return { has: false }
    node = (node as Tree)[key]
  }
  return { has: true, value: node }
}
