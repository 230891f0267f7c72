/**
 * What users pick instead: socket.io rooms with default settings, websocket transport only. A
 * subscriber joins a room with an acknowledged `subscribe` emit; each event is one
 * `io.to(room).emit('event', ...)`, which socket.io encodes once per broadcast.
 */
import { createServer } from 'node:http'
import { Server } from 'socket.io'
import type { EventData } from '../protocol.ts'
import { host } from './host.ts'

const rooms = new Set<string>()
let nextRoom = 0

const http = createServer()
const io = new Server(http, { transports: ['websocket'] })

io.on('connection', (socket) => {
  socket.on('subscribe', (room: unknown, ack: unknown) => {
    const reply = typeof ack === 'function' ? (ack as (v: unknown) => void) : () => {}
    if (typeof room !== 'string' || !rooms.has(room)) {
      reply({ ok: false, code: 'not_found' })
      return
    }
    void socket.join(room)
    reply({ ok: true, executionId: room, lastSeq: 0 })
  })
})

await new Promise<void>((resolve, reject) => {
  http.once('error', reject)
  http.listen({ host: '127.0.0.1', port: 0, backlog: 4096 }, resolve)
})
const { port } = http.address() as { port: number }

host({
  url: `http://127.0.0.1:${port}`,
  async createRooms(count) {
    const ids: string[] = []
    for (let i = 0; i < count; i++) {
      const id = `r${nextRoom++}`
      rooms.add(id)
      ids.push(id)
    }
    return ids
  },
  emit(room: string, seq: number, data: EventData) {
    io.to(room).emit('event', { executionId: room, seq, ts: Date.now(), data })
  },
  async endRooms(ids) {
    for (const id of ids) {
      rooms.delete(id)
      io.in(id).socketsLeave(id)
    }
  },
  close: () =>
    new Promise<void>((resolve) => {
      io.disconnectSockets(true)
      void io.close(() => resolve())
    }),
})
