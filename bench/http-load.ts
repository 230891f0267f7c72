/**
 * A lean HTTP/1.1 load generator for the control-plane benchmark: `connections` keep-alive
 * sockets, each with one request in flight, responses framed by Content-Length only (the servers
 * measured send no chunked bodies to these routes). Node's own fetch or http client costs more
 * CPU per request than the servers under test, and the client would set the pace.
 */
import { connect, type Socket } from 'node:net'

export interface LoadResult {
  requests: number
  /** Responses per status code. */
  statuses: Record<number, number>
  elapsedMs: number
}

const HEADER_END = Buffer.from('\r\n\r\n')

/** Sends `request(i)` (a full request head plus body) over `connections` sockets for `durationMs`. */
export async function load(
  port: number,
  request: (i: number) => string,
  connections: number,
  durationMs: number,
): Promise<LoadResult> {
  const statuses: Record<number, number> = {}
  let requests = 0
  let sent = 0
  const deadline = performance.now() + durationMs
  const started = performance.now()

  const worker = () =>
    new Promise<void>((resolve, reject) => {
      const socket: Socket = connect(port, '127.0.0.1')
      socket.setNoDelay(true)
      let buf: Buffer = Buffer.alloc(0)
      const next = () => {
        if (performance.now() >= deadline) {
          socket.end()
          resolve()
          return
        }
        socket.write(request(sent++))
      }
      socket.on('connect', next)
      socket.on('error', reject)
      socket.on('data', (chunk: Buffer) => {
        buf = buf.length === 0 ? chunk : Buffer.concat([buf, chunk])
        for (;;) {
          const end = buf.indexOf(HEADER_END)
          if (end < 0) return
          const head = buf.subarray(0, end).toString('latin1')
          const m = /content-length:\s*(\d+)/i.exec(head)
          const total = end + 4 + (m ? Number(m[1]) : 0)
          if (buf.length < total) return
          const status = Number(head.slice(9, 12))
          statuses[status] = (statuses[status] ?? 0) + 1
          requests++
          buf = buf.subarray(total)
          next()
        }
      })
    })

  await Promise.all(Array.from({ length: connections }, worker))
  return { requests, statuses, elapsedMs: performance.now() - started }
}
