/**
 * A child flow's outcome mapped back into its parent: `result[.path]` prefers what the child set
 * as its result and falls back to its close snapshot; `snapshot[.path]` reads the snapshot.
 */
import { FlowcastError } from '@flowcast/protocol'
import { readPath } from '../state.ts'

/** Resolves one writeBack source against the child's result (if it set one) and close snapshot. */
export function resolveWriteBack(
  from: string,
  explicit: { value: unknown } | undefined,
  snapshot: unknown,
): unknown {
  const [head, ...rest] = from.split('.')
  const path = rest.join('.')
  if (head === 'snapshot') return readPath(snapshot, path).value
  if (head === 'result') {
    if (explicit) {
      const found = readPath(explicit.value, path)
      if (found.has) return found.value
    }
    return readPath(snapshot, path).value
  }
  throw new FlowcastError(
    'invalid_input',
    `write_back source "${from}" is not result[.path] or snapshot[.path]`,
  )
}
