/**
 * Raw TCP clients for hostile-client tests: they speak just enough HTTP / WebSocket to get a
 * response or a socket going, then stop reading, the way a client that never reads behaves. The
 * server's side of such a connection is what the test watches.
 */
import net from 'node:net'
import { waitFor } from './wait.ts'

/** A raw TCP connection that has stopped reading. */
export interface RawClient {
  readonly socket: net.Socket
  /** Bytes received after reading resumed (see `resume`). */
  readonly received: Buffer[]
  /** Resolves when the TCP connection closes (once reading resumed, or on a reset). */
  readonly closed: Promise<void>
  /** Reads again, collecting into `received`. */
  resume(): void
  destroy(): void
}

function connect(port: number): Promise<net.Socket> {
  return new Promise((resolve, reject) => {
    const socket = net.connect(port, '127.0.0.1', () => resolve(socket))
    socket.once('error', reject)
  })
}

function wrap(socket: net.Socket, received: Buffer[]): RawClient {
  // Writes after the server hung up fail with EPIPE or ECONNRESET: that is the point of the test.
  socket.on('error', () => {})
  const closed = new Promise<void>((resolve) => socket.once('close', () => resolve()))
  return {
    socket,
    received,
    closed,
    resume() {
      socket.on('data', (chunk: Buffer) => received.push(chunk))
      socket.resume()
    },
    destroy() {
      socket.destroy()
    },
  }
}

/** A WebSocket text frame from a client (masked with a zero key, which the protocol allows). */
export function clientTextFrame(text: string): Buffer {
  const payload = Buffer.from(text)
  const n = payload.length
  const header =
    n < 126 ? Buffer.from([0x81, 0x80 | n]) : Buffer.from([0x81, 0x80 | 126, (n >> 8) & 0xff, n & 0xff])
  return Buffer.concat([header, Buffer.alloc(4), payload])
}

/** Upgrades to a WebSocket at `/ws`, then stops reading. */
export async function rawWebSocket(port: number): Promise<RawClient & { sendText(text: string): void }> {
  const socket = await connect(port)
  socket.write(
    'GET /ws HTTP/1.1\r\nHost: 127.0.0.1\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n' +
      'Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n',
  )
  const head = await waitFor(
    new Promise<Buffer>((resolve) => socket.once('data', resolve)),
    5000,
    'the upgrade response',
  )
  if (!head.toString('latin1').startsWith('HTTP/1.1 101')) throw new Error(`upgrade refused: ${head}`)
  socket.pause()
  const client = wrap(socket, [])
  return {
    ...client,
    sendText(text: string) {
      if (!socket.destroyed) socket.write(clientTextFrame(text))
    },
  }
}

/** Sends `GET path` (an SSE stream) and never reads the answer. */
export async function rawGet(port: number, path: string): Promise<RawClient> {
  const socket = await connect(port)
  socket.pause()
  socket.write(`GET ${path} HTTP/1.1\r\nHost: 127.0.0.1\r\nAccept: text/event-stream\r\n\r\n`)
  return wrap(socket, [])
}
