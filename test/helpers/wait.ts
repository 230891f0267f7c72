/** Test waiting helpers: wait on a condition or an event, always with a bound, never a bare sleep. */

/** Resolves once `cond()` is true; rejects after `timeoutMs`. Polls on setImmediate, then every few ms. */
export async function until(cond: () => boolean, timeoutMs = 5000, what = 'condition'): Promise<void> {
  const deadline = Date.now() + timeoutMs
  let spins = 0
  while (!cond()) {
    if (Date.now() > deadline) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`)
    await new Promise<void>((r) => (spins++ < 100 ? setImmediate(r) : setTimeout(r, 2)))
  }
}

/** Races `promise` against a bound; rejects with a clear message when the bound passes first. */
export function waitFor<T>(promise: Promise<T>, timeoutMs = 5000, what = 'promise'): Promise<T> {
  let timer: ReturnType<typeof setTimeout> | undefined
  const bound = new Promise<never>((_, reject) => {
    timer = setTimeout(
      () => reject(new Error(`timed out after ${timeoutMs} ms waiting for ${what}`)),
      timeoutMs,
    )
  })
  return Promise.race([promise, bound]).finally(() => clearTimeout(timer))
}
