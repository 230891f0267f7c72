/** One place that closes what a test opened, so test files do not each keep an afterEach of lists. */
import { afterEach } from 'vitest'

type Closable = { close(): unknown }

/**
 * Returns `own(resource)`: registers `resource` to be closed after the current test, last opened
 * first closed (clients, then the proxy in front of the server, then the server), and returns it.
 */
export function useCleanup(): <T extends Closable>(resource: T) => T {
  const owned: Closable[] = []
  afterEach(async () => {
    for (const r of owned.splice(0).reverse()) await r.close()
  })
  return (resource) => {
    owned.push(resource)
    return resource
  }
}
