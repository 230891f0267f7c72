/**
 * The practical limit of this stack: a bare `ws` server with rooms as Sets, each event
 * JSON-encoded once and framed once into a single Buffer, and that same Buffer written to every
 * subscriber's socket. No coalescing, no per-socket work beyond the write; frames look like
 * flowcast's single `event` frame so one client adapter reads both.
 *
 * The framing goes through ws's Sender (`Sender.frame` once, `sendFrame` per socket), the same
 * untyped door socket.io's broadcast uses; with the public `ws.send(buffer)` each socket would pay
 * for building its own frame header, and the baseline would lose to socket.io, which is no limit.
 * BENCH_WS_PUBLIC_SEND=1 switches to `ws.send` to see the difference.
 *
 * BENCH_WS_BATCH=1 (the `ws-batch` target, servers/raw-ws-batch.ts) batches as flowcast's rooms do:
 * events emitted in one event-loop turn go out at setImmediate as one `events` frame per room,
 * framed once. flowcast's flood lead over the plain baseline comes from batching; against this one
 * only its per-delivery cost shows.
 */
import * as wsModule from 'ws'
import { WebSocket, WebSocketServer } from 'ws'
import type { EventData } from '../protocol.ts'
import { host } from './host.ts'

const rooms = new Map<string, Set<WebSocket>>()
let nextRoom = 0

const wss = new WebSocketServer({
  host: '127.0.0.1',
  port: 0,
  perMessageDeflate: false,
  maxPayload: 64 * 1024,
  // A server that tracks its clients pays for it; we keep our own room sets instead.
  clientTracking: false,
  backlog: 4096,
})

wss.on('connection', (ws) => {
  const joined = new Set<string>()
  ws.on('message', (raw) => {
    let msg: { type?: unknown; id?: unknown; executionId?: unknown }
    try {
      msg = JSON.parse(raw.toString())
    } catch {
      ws.send(JSON.stringify({ type: 'error', code: 'bad_frame', message: 'not JSON' }))
      return
    }
    const room = typeof msg.executionId === 'string' ? rooms.get(msg.executionId) : undefined
    if (msg.type !== 'subscribe' || !room) {
      ws.send(
        JSON.stringify({
          type: 'error',
          id: msg.id,
          code: 'not_found',
          message: 'subscribe to a known room',
        }),
      )
      return
    }
    room.add(ws)
    joined.add(msg.executionId as string)
    ws.send(JSON.stringify({ type: 'subscribed', id: msg.id, executionId: msg.executionId, lastSeq: 0 }))
  })
  ws.on('close', () => {
    for (const id of joined) rooms.get(id)?.delete(ws)
  })
  ws.on('error', () => ws.terminate())
})

await new Promise<void>((resolve, reject) => {
  wss.once('listening', resolve)
  wss.once('error', reject)
})
const { port } = wss.address() as { port: number }

// One options object for every send: ws treats a Buffer as binary unless told otherwise, and the
// client side expects text frames like a JSON protocol server would send.
const TEXT = { binary: false }
const FRAME = { fin: true, rsv1: false, opcode: 1, mask: false, readOnly: true }
type SenderClass = { frame?(data: Buffer, opts: typeof FRAME): Buffer[] }
// ws's ESM entry (what tsx loads) exports `Sender` by name and does not hang it on the WebSocket
// class, as its CommonJS entry does; looking only at WebSocket.Sender silently fell back to ws.send.
const wsNs = wsModule as unknown as { Sender?: SenderClass; default?: { Sender?: SenderClass } }
const Sender =
  wsNs.Sender ?? wsNs.default?.Sender ?? (WebSocket as unknown as { Sender?: SenderClass }).Sender
type FrameWriter = { sendFrame?(list: Buffer[], cb?: () => void): void }
const preframed = process.env.BENCH_WS_PUBLIC_SEND !== '1' && typeof Sender?.frame === 'function'
const batching = process.env.BENCH_WS_BATCH === '1'

/** Writes one encoded frame payload to every open subscriber of `subs`. */
function broadcast(subs: Set<WebSocket>, payload: Buffer): void {
  if (!preframed) {
    for (const ws of subs) if (ws.readyState === WebSocket.OPEN) ws.send(payload, TEXT)
    return
  }
  const frame = [Buffer.concat(Sender!.frame!(payload, FRAME))]
  for (const ws of subs) {
    if (ws.readyState !== WebSocket.OPEN) continue
    const sender = (ws as unknown as { _sender?: FrameWriter })._sender
    if (sender?.sendFrame) sender.sendFrame(frame)
    else ws.send(payload, TEXT)
  }
}

/** Events emitted this turn, per room, for the batching variant. */
const pending = new Map<string, string[]>()
let flushScheduled = false
function flush(): void {
  flushScheduled = false
  for (const [room, items] of pending) {
    const subs = rooms.get(room)
    if (subs && subs.size > 0)
      broadcast(subs, Buffer.from(`{"type":"events","executionId":"${room}","items":[${items.join(',')}]}`))
  }
  pending.clear()
}

host({
  url: `ws://127.0.0.1:${port}/`,
  async createRooms(count) {
    const ids: string[] = []
    for (let i = 0; i < count; i++) {
      const id = `r${nextRoom++}`
      rooms.set(id, new Set())
      ids.push(id)
    }
    return ids
  },
  emit(room: string, seq: number, data: EventData) {
    const subs = rooms.get(room)
    if (!subs || subs.size === 0) return
    if (batching) {
      const item = JSON.stringify({ seq, ts: Date.now(), data })
      const items = pending.get(room)
      if (items) items.push(item)
      else pending.set(room, [item])
      if (!flushScheduled) {
        flushScheduled = true
        setImmediate(flush)
      }
      return
    }
    broadcast(
      subs,
      Buffer.from(JSON.stringify({ type: 'event', executionId: room, seq, ts: Date.now(), data })),
    )
  },
  async endRooms(ids) {
    for (const id of ids) rooms.delete(id)
  },
  close: () =>
    new Promise<void>((resolve) => {
      for (const subs of rooms.values()) for (const ws of subs) ws.terminate()
      wss.close(() => resolve())
    }),
})
