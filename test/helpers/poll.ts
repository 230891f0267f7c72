/** Waiting on something only an async probe can see (an HTTP answer), with a bound. */

/** Resolves once `probe()` resolves truthy; re-probes every `everyMs`; rejects after `timeoutMs`. */
export async function eventually(
  probe: () => Promise<boolean>,
  timeoutMs = 5000,
  what = 'condition',
  everyMs = 10,
): Promise<void> {
  const deadline = Date.now() + timeoutMs
  while (!(await probe())) {
    if (Date.now() > deadline) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`)
    await new Promise<void>((r) => setTimeout(r, everyMs))
  }
}
