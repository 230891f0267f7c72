/**
 * Server-sent events: the only place that builds SSE bytes. An SSE response is a room Peer whose
 * queue is a ReadableStream's, so a slow SSE reader is paused and caught up exactly like a socket;
 * room frames become `id: <seq>` / `event: <type>` / `data: <json>` messages, encoded once per
 * frame for every SSE member of the room.
 */
import { FlowcastError } from '@flowcast/protocol'
import type { Context } from 'hono'
import { ExpiryWheel } from '../auth/expiry.ts'
import type { FrameEncoding, OutFrame } from '../fanout/frame.ts'
import type { Peer } from '../fanout/member.ts'
import type { AppDeps, Env } from './context.ts'

/** The SSE encoding of room frames. */
const sseEncoding: FrameEncoding<Buffer> = {
  encode: (frame) =>
    Buffer.from(
      `${frame.lastSeq === undefined ? '' : `id: ${frame.lastSeq}\n`}event: ${frame.event}\ndata: ${frame.json}\n\n`,
      'utf8',
    ),
}

/** The SSE message of `frame`, encoded once for every SSE member of the room. */
export function sseBytes(frame: OutFrame): Buffer {
  return frame.encoded(sseEncoding)
}

const KEEP_ALIVE = Buffer.from(': keep-alive\n\n')

/** The first message of a response: the reconnect delay and the execution's status. */
function openingBytes(executionId: string, status: string): Buffer {
  const data = JSON.stringify({ type: 'status', executionId, status })
  return Buffer.from(`retry: 1000\nevent: status\ndata: ${data}\n\n`)
}

/** The last message of a response whose token ran out (the same JSON as the socket's error frame). */
function expiredBytes(executionId: string): Buffer {
  const data = JSON.stringify({
    type: 'error',
    code: 'token_expired',
    message: `the token of the stream of ${executionId} expired`,
    executionId,
  })
  return Buffer.from(`event: error\ndata: ${data}\n\n`)
}

/** An SSE response as a room peer. */
class SsePeer implements Peer {
  open = true
  #controller: ReadableStreamDefaultController<Uint8Array> | undefined
  #keepAlive: ReturnType<typeof setInterval> | undefined
  readonly stream: ReadableStream<Uint8Array>
  readonly #strategyHwm: number
  readonly #abort: (() => void) | undefined
  readonly #onGone: (peer: SsePeer) => void

  /** `abort` tears the HTTP response down at once (the Node response's destroy), where there is one. */
  constructor(
    hwm: number,
    keepAliveMs: number,
    abort: (() => void) | undefined,
    onGone: (peer: SsePeer) => void,
  ) {
    this.#strategyHwm = hwm
    this.#abort = abort
    this.#onGone = onGone
    this.stream = new ReadableStream<Uint8Array>(
      {
        start: (controller) => {
          this.#controller = controller
        },
        cancel: () => this.#gone(),
      },
      new ByteLengthQueuingStrategy({ highWaterMark: hwm }),
    )
    this.#keepAlive = setInterval(() => this.#write(KEEP_ALIVE), keepAliveMs)
    this.#keepAlive.unref()
  }

  get bufferedAmount(): number {
    const desired = this.#controller?.desiredSize ?? 0
    return this.#strategyHwm - (desired ?? 0)
  }

  send(frame: OutFrame): void {
    this.#write(sseBytes(frame))
  }

  /** Writes the opening message. */
  opening(executionId: string, status: string): void {
    this.#write(openingBytes(executionId, status))
  }

  /**
   * The room's close (a slow consumer, 4008): the response is destroyed, not ended. Ending would
   * wait for the queue to drain first, which a client that never reads never lets happen, and
   * the pipe from the stream to the socket sits waiting for a drain, so it would not see an
   * errored stream either.
   */
  close(_code: number, reason: string): void {
    if (!this.open) return
    this.#gone()
    if (this.#abort) {
      this.#abort()
      return
    }
    // Elsewhere, an errored stream is the runtime's cue to abort the response.
    try {
      this.#controller?.error(new Error(reason))
    } catch {
      // Already closed or errored.
    }
  }

  /** Ends the response after what is queued (stream_end, server shutdown). */
  end(): void {
    if (!this.open) return
    try {
      this.#controller?.close()
    } catch {
      // Already errored or cancelled.
    }
    this.#gone()
  }

  onStreamEnd(): void {
    this.end()
  }

  /** The token behind the response ran out: say so, then end it (the room lets go of it). */
  expire(executionId: string): void {
    this.#write(expiredBytes(executionId))
    this.end()
  }

  #write(bytes: Uint8Array): void {
    if (!this.open) return
    try {
      this.#controller?.enqueue(bytes)
    } catch {
      this.#gone()
    }
  }

  #gone(): void {
    if (!this.open) return
    this.open = false
    if (this.#keepAlive) clearInterval(this.#keepAlive)
    this.#onGone(this)
  }
}

/** The open SSE responses of one server. */
export class SseStreams {
  readonly #deps: AppDeps
  readonly #open = new Set<SsePeer>()
  /** Responses whose credential expires, with their execution, ended when it does. */
  readonly #expiry = new ExpiryWheel<{ peer: SsePeer; executionId: string }>(({ peer, executionId }) =>
    peer.expire(executionId),
  )

  constructor(deps: AppDeps) {
    this.#deps = deps
  }

  /**
   * Answers GET /api/executions/:id/stream: a response subscribed to the room from `since`,
   * counted against the caller's address like a socket, and ended with `token_expired` at `exp`
   * (seconds) when the credential expires. Throws FlowcastError (not_found, invalid_since,
   * too_many_connections).
   */
  async open(c: Context<Env>, id: string, since: number, exp: number | undefined): Promise<Response> {
    const { rooms, addresses, limits, logger } = this.#deps
    // The same per-address cap as WebSockets: a response held open is a connection.
    const address = c.env?.incoming?.socket.remoteAddress ?? 'unknown'
    if (!addresses.take(address)) {
      this.#deps.metrics().connectionsRefused.inc({ reason: 'per_address' })
      logger.warn({ address }, 'sse refused: too many connections from one address')
      throw new FlowcastError('too_many_connections', 'too many connections from this address')
    }
    const outgoing = c.env?.outgoing
    const expiry = this.#expiry
    let created: SsePeer | undefined
    let peer: SsePeer
    let entry: { peer: SsePeer; executionId: string } | undefined
    let expiryKey = 0
    try {
      const entered = await rooms.enter(
        id,
        (room) => {
          const p = new SsePeer(
            limits.highWaterMark,
            limits.heartbeatMs,
            outgoing && (() => outgoing.destroy()),
            (gone) => {
              if (entry) expiry.delete(entry, expiryKey)
              this.#open.delete(gone)
              room.unsubscribe(gone)
              addresses.release(address)
            },
          )
          created = p
          room.subscribe(p, since, (info) => p.opening(id, info.status))
          if (exp !== undefined && p.open) {
            entry = { peer: p, executionId: id }
            expiryKey = expiry.add(entry, exp)
          }
          return p
        },
        since,
      )
      if (!entered) throw new FlowcastError('not_found', `no execution "${id}"`)
      peer = entered
    } catch (err) {
      // A peer gives its slot back when it goes; before there was one, the slot is given back here.
      if (created) created.end()
      else addresses.release(address)
      throw err
    }
    if (peer.open) this.#open.add(peer)
    return new Response(peer.stream, {
      status: 200,
      headers: {
        'content-type': 'text/event-stream; charset=utf-8',
        'cache-control': 'no-cache, no-transform',
        connection: 'keep-alive',
        'x-accel-buffering': 'no',
      },
    })
  }

  /** Ends every open response (server shutdown). */
  close(): void {
    for (const p of [...this.#open]) p.end()
    this.#expiry.stop()
  }
}
