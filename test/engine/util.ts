/** Small helpers for engine tests: collecting iterables and gates a flow can wait on. */

/** Reads an async iterable to its end. */
export async function drain<T>(iter: AsyncIterable<T>): Promise<T[]> {
  const out: T[] = []
  for await (const item of iter) out.push(item)
  return out
}

/** A promise the test opens by hand: `gate.open(v)` resolves `gate.promise`. */
export interface Gate<T = void> {
  promise: Promise<T>
  open(value: T): void
}

/** Makes a Gate. */
export function gate<T = void>(): Gate<T> {
  let open!: (value: T) => void
  const promise = new Promise<T>((resolve) => {
    open = resolve
  })
  return { promise, open }
}

/** Execution options of a run that closes as soon as nothing is pending (as the server's do). */
export const closeWhenIdle = { autoCloseTimeout: 0 } as const
