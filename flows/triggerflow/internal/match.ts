/**
 * Match cases as TriggerFlow 4.1 judges them: a predicate gets the runtime data and hits on
 * exactly `true`; a value case equals the input deeply (Python's `==` on dicts and lists).
 */
import type { Condition } from '../graph.ts'
import type { RuntimeData } from '../runtime-data.ts'

/** A case holds when its predicate returns exactly `true`, or its value equals the input (deeply). */
export async function holds(condition: Condition, data: RuntimeData, value: unknown): Promise<boolean> {
  if (typeof condition === 'function') return (await condition(data)) === true
  return deepEqual(condition, value)
}

/** Deep equality of JSON-shaped values. */
export function deepEqual(a: unknown, b: unknown): boolean {
  if (Object.is(a, b)) return true
  if (typeof a !== 'object' || typeof b !== 'object' || a === null || b === null) return false
  if (Array.isArray(a) !== Array.isArray(b)) return false
  const ka = Object.keys(a)
  const kb = Object.keys(b)
  if (ka.length !== kb.length) return false
  return ka.every((k) => Object.hasOwn(b, k) && deepEqual((a as any)[k], (b as any)[k]))
}
