/**
 * socket.io with its Redis adapter (@socket.io/redis-adapter), the baseline of bench/redis.ts:
 * two processes on one Redis, like two flowcast nodes. ROLE=sub serves the subscribers (they
 * join rooms with an acknowledged `subscribe` emit); ROLE=pub has no sockets and emits to ROOMS
 * rooms, RATE events per second in all, spread over the rooms, from `go` to `stop` on stdin.
 * Each event is one `io.to(room).emit(...)`, which the adapter PUBLISHes for the other node.
 */
import { createServer } from 'node:http'
import { createAdapter } from '@socket.io/redis-adapter'
import { Redis } from 'ioredis'
import { Server } from 'socket.io'

const redisUrl = process.env.REDIS_URL ?? 'redis://127.0.0.1:6379'
const role = process.env.ROLE ?? 'sub'
const pub = new Redis(redisUrl)
const sub = pub.duplicate()
const http = createServer()
const io = new Server(http, { transports: ['websocket'], adapter: createAdapter(pub, sub) })

io.on('connection', (socket) => {
  socket.on('subscribe', (rooms: unknown, ack: unknown) => {
    const reply = typeof ack === 'function' ? (ack as (v: unknown) => void) : () => {}
    if (!Array.isArray(rooms) || !rooms.every((r) => typeof r === 'string')) return reply({ ok: false })
    void socket.join(rooms as string[])
    reply({ ok: true })
  })
})

await new Promise<void>((resolve) => http.listen({ host: '127.0.0.1', port: 0, backlog: 4096 }, resolve))
const { port } = http.address() as { port: number }
console.log(JSON.stringify({ url: `http://127.0.0.1:${port}` }))

if (role === 'pub') {
  const rooms = Number(process.env.ROOMS ?? 100)
  const rate = Number(process.env.RATE ?? 2000)
  const pad = 'x'.repeat(Number(process.env.PAD ?? 40))
  const seqs = new Array<number>(rooms).fill(0)
  let timer: ReturnType<typeof setInterval> | undefined
  let next = 0
  let owed = 0
  let last = 0
  process.stdin.setEncoding('utf8')
  process.stdin.on('data', (text: string) => {
    if (text.includes('go') && !timer) {
      last = performance.now()
      // Every 5 ms, the events owed since the last tick, to the next rooms in turn.
      timer = setInterval(() => {
        const now = performance.now()
        owed += ((now - last) * rate) / 1000
        last = now
        for (; owed >= 1; owed--) {
          const room = next
          next = (next + 1) % rooms
          const seq = ++seqs[room]!
          io.to(`r${room}`).emit('event', {
            executionId: `r${room}`,
            seq,
            ts: Date.now(),
            data: { n: seq, pad },
          })
        }
      }, 5)
    }
    if (text.includes('stop') && timer) {
      clearInterval(timer)
      timer = undefined
    }
  })
}
process.on('SIGTERM', () => {
  io.close()
  pub.disconnect()
  sub.disconnect()
  process.exit(0)
})
