/**
 * One small adapter per wire protocol: open a socket, subscribe to one room, and hand every
 * delivered item (seq and emit time) to the sink. The raw ws server speaks flowcast's event
 * framing without the hello/subscribe handshake, so the two share the frame reader.
 */
import { WebSocket } from 'ws'
import type { AdapterName } from './protocol.ts'
import { clock } from './protocol.ts'

export interface Subscription {
  close(): void
  /** Resolves once the server's join-time work for a room of `members` has reached this subscriber. */
  settled(members: number): Promise<void>
}

export interface OpenOptions {
  url: string
  token?: string
  room: string
  timeoutMs: number
  /** One delivered item; `now` is the frame's arrival time. */
  sink(seq: unknown, t: unknown, now: number): void
  /** The socket closed or failed after the subscription was confirmed. */
  onDrop(reason: string): void
}

export type Adapter = (opts: OpenOptions) => Promise<Subscription>

export const adapters: Record<AdapterName, Adapter> = {
  ws: (opts) => openJsonSocket(opts, false),
  flowcast: (opts) => openJsonSocket(opts, true),
  'socket.io': openSocketIo,
}

/**
 * The opening -> live -> closed life of one bench subscription, shared by every transport: a
 * failure while opening rejects (after `abort`), one while live is a drop; `live()` resolves once.
 * `settled` is the transport's; one whose server does nothing after a join settles at once.
 */
function lifecycle(
  opts: OpenOptions,
  resolve: (sub: Subscription) => void,
  reject: (err: Error) => void,
  abort: () => void,
  settled: Subscription['settled'] = () => Promise.resolve(),
) {
  let state: 'opening' | 'live' | 'closed' = 'opening'
  const timer = setTimeout(() => fail('subscribe timed out'), opts.timeoutMs)
  const fail = (reason: string) => {
    if (state === 'opening') {
      state = 'closed'
      clearTimeout(timer)
      abort()
      reject(new Error(reason))
    } else if (state === 'live') {
      state = 'closed'
      opts.onDrop(reason)
    }
  }
  const live = () => {
    if (state !== 'opening') return
    state = 'live'
    clearTimeout(timer)
    resolve({
      close: () => {
        state = 'closed'
        abort()
      },
      settled,
    })
  }
  return { fail, live, opening: () => state === 'opening' }
}

/**
 * flowcast (and the raw ws server): JSON text frames. flowcast greets with `hello` before it takes
 * a subscribe; the data of an item is whatever the flow put, which for the bench flow carries `t`.
 * flowcast's join-time work is presence: settled once a `presence` frame counts the room's members.
 */
function openJsonSocket(opts: OpenOptions, greeted: boolean): Promise<Subscription> {
  return new Promise((resolve, reject) => {
    const ws = new WebSocket(opts.url, {
      perMessageDeflate: false,
      skipUTF8Validation: true,
      handshakeTimeout: opts.timeoutMs,
    })
    let present = 0
    const waiting = new Set<() => void>()
    const settled = (members: number) =>
      new Promise<void>((done) => {
        const check = () => {
          if (present < members) return
          waiting.delete(check)
          done()
        }
        waiting.add(check)
        check()
      })
    const { fail, live, opening } = lifecycle(
      opts,
      resolve,
      reject,
      () => ws.terminate(),
      greeted ? settled : undefined,
    )
    const subscribe = () => {
      if (opts.token) ws.send(JSON.stringify({ type: 'auth', id: 'bench-auth', token: opts.token }))
      ws.send(JSON.stringify({ type: 'subscribe', id: 1, executionId: opts.room }))
    }
    ws.on('open', () => {
      if (!greeted) subscribe()
    })
    ws.on('message', (raw: Buffer) => {
      const now = clock()
      let f: any
      try {
        f = JSON.parse(raw.toString())
      } catch {
        return
      }
      switch (f?.type) {
        case 'event':
          opts.sink(f.seq, f.data?.t, now)
          break
        case 'events':
          if (Array.isArray(f.items)) for (const it of f.items) opts.sink(it?.seq, it?.data?.t, now)
          break
        case 'hello':
          if (greeted && opening()) subscribe()
          break
        case 'subscribed':
          live()
          break
        case 'presence':
          present = f.subscribers
          for (const check of waiting) check()
          break
        case 'error':
          if (opening()) fail(`server error ${f.code}: ${f.message}`)
          break
        // gap, stream_end, status: a gap shows up as lost seqs in the tally.
      }
    })
    ws.on('error', (err) => fail(err.message))
    ws.on('close', (code) => fail(`closed with ${code}`))
  })
}

type SocketIoClient = typeof import('socket.io-client')
let socketIoClient: Promise<SocketIoClient> | undefined

async function openSocketIo(opts: OpenOptions): Promise<Subscription> {
  // Loaded on first use so a run without socket.io never pays for the module.
  socketIoClient ??= import('socket.io-client')
  const { io } = await socketIoClient
  return new Promise((resolve, reject) => {
    const socket = io(opts.url, {
      transports: ['websocket'],
      forceNew: true,
      reconnection: false,
      timeout: opts.timeoutMs,
    })
    const { fail, live, opening } = lifecycle(opts, resolve, reject, () => socket.disconnect())
    socket.on('event', (f: any) => opts.sink(f?.seq, f?.data?.t, clock()))
    socket.on('connect', () => {
      socket.emit('subscribe', opts.room, (res: any) => {
        if (!opening()) return
        if (!res?.ok) {
          fail(`subscribe refused: ${res?.code}`)
          return
        }
        live()
      })
    })
    socket.on('connect_error', (err) => fail(err.message))
    socket.on('disconnect', (reason) => fail(`disconnected: ${reason}`))
  })
}
