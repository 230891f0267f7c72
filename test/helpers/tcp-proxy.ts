/**
 * A TCP proxy for tests: sits between clients and a server on 127.0.0.1 so a test can cut every
 * connection for real (the client sees the TCP connection die, as on a flaky network) or stall
 * the bytes in both directions without closing anything (a silent dead link).
 */
import net from 'node:net'

export interface TcpProxy {
  /** The port clients connect to. */
  readonly port: number
  /** Connections currently open through the proxy. */
  readonly connections: number
  /** Connections accepted so far. */
  readonly accepted: number
  /** Bytes passed from the server to clients so far (what the clients pulled). */
  readonly bytesToClients: number
  /** Bytes passed from clients to the server so far. */
  readonly bytesToServer: number
  /** When each connection was accepted (Date.now()), in order: the gaps between a client's attempts. */
  readonly acceptedAt: readonly number[]
  /** Destroys every open connection on both sides; `reset` sends RST instead of FIN. Returns how many. */
  cutAll(options?: { reset?: boolean }): number
  /**
   * A dead link until `resume()`: no byte moves in either direction and a close on one side is not
   * passed to the other (as when a cable is pulled); new connections stall too.
   */
  pause(): void
  resume(): void
  /** `pause()`, then `resume()` after `ms`. */
  stallFor(ms: number): void
  /** Writes raw bytes to every client, as if the server had sent them (to test a client's frame checks). */
  injectToClients(bytes: Uint8Array): number
  /** Cuts everything and stops listening. */
  close(): Promise<void>
}

interface Pair {
  client: net.Socket
  upstream: net.Socket
  /** One side closed while paused; the other side learns it on resume. */
  dead: boolean
}

/** Starts a proxy on a free port forwarding to `targetPort` on `targetHost`. */
export async function createProxy(targetPort: number, targetHost = '127.0.0.1'): Promise<TcpProxy> {
  const pairs = new Set<Pair>()
  let paused = false
  let accepted = 0
  const bytes = { toClients: 0, toServer: 0 }
  const acceptedAt: number[] = []
  let stallTimer: ReturnType<typeof setTimeout> | null = null

  const forward = (from: net.Socket, to: net.Socket, count: 'toClients' | 'toServer'): void => {
    from.on('data', (chunk: Buffer) => {
      bytes[count] += chunk.length
      if (!to.write(chunk)) from.pause()
    })
    to.on('drain', () => {
      if (!paused) from.resume()
    })
  }

  const server = net.createServer((client) => {
    accepted++
    acceptedAt.push(Date.now())
    client.setNoDelay(true)
    const upstream = net.connect({ port: targetPort, host: targetHost })
    upstream.setNoDelay(true)
    const pair: Pair = { client, upstream, dead: false }
    pairs.add(pair)
    const end = (): void => {
      if (paused) {
        pair.dead = true
        return
      }
      pairs.delete(pair)
      client.destroy()
      upstream.destroy()
    }
    client.on('error', end)
    upstream.on('error', end)
    client.on('close', end)
    upstream.on('close', end)
    forward(client, upstream, 'toServer')
    forward(upstream, client, 'toClients')
    if (paused) {
      client.pause()
      upstream.pause()
    }
  })

  await new Promise<void>((resolve, reject) => {
    server.once('error', reject)
    server.listen(0, '127.0.0.1', () => resolve())
  })
  const port = (server.address() as net.AddressInfo).port

  const proxy: TcpProxy = {
    port,
    get connections() {
      return pairs.size
    },
    get accepted() {
      return accepted
    },
    get bytesToClients() {
      return bytes.toClients
    },
    get bytesToServer() {
      return bytes.toServer
    },
    acceptedAt,
    cutAll(options = {}) {
      const n = pairs.size
      for (const pair of [...pairs]) {
        pairs.delete(pair)
        if (options.reset) {
          pair.client.resetAndDestroy()
          pair.upstream.resetAndDestroy()
        } else {
          pair.client.destroy()
          pair.upstream.destroy()
        }
      }
      return n
    },
    pause() {
      paused = true
      for (const { client, upstream } of pairs) {
        client.pause()
        upstream.pause()
      }
    },
    resume() {
      paused = false
      if (stallTimer) clearTimeout(stallTimer)
      stallTimer = null
      for (const pair of [...pairs]) {
        if (pair.dead) {
          pairs.delete(pair)
          pair.client.destroy()
          pair.upstream.destroy()
          continue
        }
        pair.client.resume()
        pair.upstream.resume()
      }
    },
    injectToClients(bytes) {
      let n = 0
      for (const { client, dead } of pairs) {
        if (dead || client.destroyed) continue
        client.write(bytes)
        n++
      }
      return n
    },
    stallFor(ms) {
      proxy.pause()
      if (stallTimer) clearTimeout(stallTimer)
      stallTimer = setTimeout(() => proxy.resume(), ms)
    },
    async close() {
      if (stallTimer) clearTimeout(stallTimer)
      stallTimer = null
      paused = false
      proxy.cutAll()
      await new Promise<void>((resolve) => server.close(() => resolve()))
    },
  }
  return proxy
}
