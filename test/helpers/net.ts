/**
 * Network helpers shared by the tests and the benchmarks (no vitest here: bench/ imports it).
 */
import net from 'node:net'

/** A free TCP port on 127.0.0.1: bound on port 0, then released (nothing listens on it after). */
export function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const s = net.createServer()
    s.once('error', reject)
    s.listen(0, '127.0.0.1', () => {
      const { port } = s.address() as net.AddressInfo
      s.close(() => resolve(port))
    })
  })
}
