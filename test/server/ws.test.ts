/** The WebSocket protocol v1 over real sockets on port 0: fan-out, replay, resume, stop, status. */
import net from 'node:net'
import { afterEach, describe, expect, it } from 'vitest'
import { waitFor } from '../helpers/wait.ts'
import { range, TestSocket } from '../helpers/ws-client.ts'
import { Gate, getJson, serve, start } from './fixtures.ts'

const sockets: TestSocket[] = []
afterEach(async () => {
  await Promise.all(sockets.splice(0).map((s) => s.close()))
})
async function open(url: string): Promise<TestSocket> {
  const s = await TestSocket.open(url)
  sockets.push(s)
  return s
}

/**
 * Writes by the server's ends of connections to `port` (their local port is the server's), per
 * socket, until disposed: every write() and writev() of a net.Socket goes through _writeGeneric.
 * Heartbeat pings are not counted: the spread heartbeat may ping a new socket within its first
 * milliseconds (its slice's tick can come at any time), which says nothing about the handshake.
 */
function serverWrites(port: number): { counts: Map<net.Socket, number> } & Disposable {
  type Generic = (this: net.Socket, writev: boolean, data: unknown, ...rest: unknown[]) => unknown
  const proto = net.Socket.prototype as unknown as { _writeGeneric: Generic }
  const original = proto._writeGeneric
  const counts = new Map<net.Socket, number>()
  proto._writeGeneric = function (writev, data, ...rest) {
    if (this.localPort === port && !isPing(writev, data)) counts.set(this, (counts.get(this) ?? 0) + 1)
    return original.call(this, writev, data, ...rest)
  }
  return {
    counts,
    [Symbol.dispose]() {
      proto._writeGeneric = original
    },
  }
}

/** Whether a write starts with a WebSocket ping frame's first byte (FIN + opcode 0x9). */
function isPing(writev: boolean, data: unknown): boolean {
  // writev hands over [{ chunk, encoding }] (or bare chunks when all are buffers); write one chunk.
  const first = writev ? (data as { chunk?: unknown }[])[0] : data
  const chunk =
    writev && first !== undefined && !Buffer.isBuffer(first) ? (first as { chunk?: unknown }).chunk : first
  return Buffer.isBuffer(chunk) && chunk[0] === 0x89
}

describe('websocket protocol', () => {
  it('greets with hello: protocol 1, a connection id, the heartbeat and the limits', async () => {
    const server = await serve({
      limits: { heartbeatMs: 12_345, maxPayload: 4096, maxSubscriptions: 7, commandsPerSecond: 33 },
    })
    const s = await open(server.url)
    const other = await open(server.url)
    const hello = s.frames[0]!
    // Exactly these fields: the hub builds the text once around the connection id.
    expect(hello).toEqual({
      type: 'hello',
      protocol: 1,
      connectionId: expect.any(String),
      heartbeatMs: 12_345,
      limits: { maxPayload: 4096, maxSubscriptions: 7, commandsPerSecond: 33 },
    })
    expect(other.frames[0]!.connectionId).not.toBe(hello.connectionId)
    const pong = await s.request({ type: 'ping' })
    expect(pong.type).toBe('pong')
  })

  it('the 101 response and the hello leave the server in one write, with a token and without', async () => {
    for (const auth of [
      'off',
      { apiKey: 'one-write-api-key-0123456789abcdef', secret: 's'.repeat(40) },
    ] as const) {
      const server = await serve({ auth })
      const token = await server.mintToken('*', 'viewer')
      const query = token === undefined ? '' : `?token=${encodeURIComponent(token)}`
      using writes = serverWrites(server.port)
      const s = new TestSocket(`${server.url.replace(/^http/, 'ws')}/ws${query}`)
      sockets.push(s)
      await s.next((f) => f.type === 'hello')
      expect(s.frames.map((f) => f.type)).toEqual(['hello'])
      expect([...writes.counts.values()]).toEqual([1])
    }
  })

  it("an accepted socket's TCP socket keeps ws's own 'close' and 'error' listeners only", async () => {
    const server = await serve()
    using writes = serverWrites(server.port)
    await open(server.url)
    const [tcp] = [...writes.counts.keys()]
    expect(tcp!.listenerCount('close')).toBe(1)
    expect(tcp!.listenerCount('error')).toBe(1)
  })

  it('upgrades are served at /ws (with or without a query) only; other paths answer 404', async () => {
    const server = await serve()
    const base = server.url.replace(/^http/, 'ws')
    const outcome = (path: string) => {
      const s = new TestSocket(`${base}${path}`)
      sockets.push(s)
      return s.upgradeStatus()
    }
    expect(await outcome('/ws')).toBe(101)
    expect(await outcome('/ws?x=1')).toBe(101)
    for (const path of ['/wsx', '/ws/', '/w', '/other?ws', '/api/ws']) expect(await outcome(path)).toBe(404)
  })

  it('100 subscribers on one execution receive the identical complete sequence', async () => {
    const gate = new Gate()
    const server = await serve({ gate })
    const N = 400
    const { executionId } = await start(server, 'gated', { before: 50, after: N - 50 })
    const subs = await Promise.all(Array.from({ length: 100 }, () => open(server.url)))
    await Promise.all(subs.map((s) => s.subscribe(executionId)))
    gate.open()
    await Promise.all(subs.map((s) => s.streamEnd(executionId)))
    const reference = subs[0]!.items(executionId)
    for (const s of subs) {
      expect(s.seqs(executionId)).toEqual(range(1, N))
      expect(s.items(executionId)).toEqual(reference)
      expect(s.ofType('stream_end').at(-1)).toMatchObject({ lastSeq: N, reason: 'completed' })
    }
  })

  it('coalesces a burst put in one tick into one events frame', async () => {
    const gate = new Gate()
    const gated = await serve({ gate })
    const s = await open(gated.url)
    const { executionId } = await start(gated, 'gated', { after: 1000 })
    await s.subscribe(executionId)
    gate.open()
    await s.streamEnd(executionId)
    expect(s.seqs(executionId)).toEqual(range(1, 1000))
    const frames = s.frames.filter(
      (f) => f.executionId === executionId && (f.type === 'event' || f.type === 'events'),
    )
    expect(frames.length).toBeLessThanOrEqual(2)
    expect(frames[0]!.type).toBe('events')
  })

  it('a late joiner gets every retained event, then stream_end', async () => {
    const server = await serve()
    const { executionId } = await start(server, 'ticker', { count: 300 })
    // The result long-poll awaits the end itself.
    expect((await getJson(`${server.url}/api/executions/${executionId}/result?wait=5000`)).status).toBe(200)
    const late = await open(server.url)
    const sub = await late.subscribe(executionId)
    expect(sub).toMatchObject({ status: 'completed', streamOpen: false, lastSeq: 300 })
    const end = await late.streamEnd(executionId)
    expect(late.seqs(executionId)).toEqual(range(1, 300))
    expect(end).toMatchObject({ lastSeq: 300, reason: 'completed' })
  })

  it('resumes with since: seq since+1.. with no hole and no repeat', async () => {
    const server = await serve()
    const { executionId } = await start(server, 'ticker', { count: 120, every: 'tick' })
    const a = await open(server.url)
    await a.subscribe(executionId)
    await a.until(() => a.seqs(executionId).length >= 40)
    const have = a.seqs(executionId).at(-1)!
    await a.close()
    const b = await open(server.url)
    await b.subscribe(executionId, have)
    await b.streamEnd(executionId)
    expect(b.seqs(executionId)).toEqual(range(have + 1, 120))
  })

  it('subscribe is atomic: sockets joining while events are put get since+1..N exactly', async () => {
    const server = await serve({ limits: { catchUpBatch: 7 } })
    const N = 3000
    const { executionId } = await start(server, 'ticker', { count: N, every: 'tick' })
    const watcher = await open(server.url)
    await watcher.subscribe(executionId)
    const joiners: { s: TestSocket; since: number }[] = []
    // Join at many moments of the run, from the start and from various points in the past.
    for (let k = 0; k < 24; k++) {
      await watcher.until(() => watcher.seqs(executionId).length >= (k + 1) * 100)
      const seen = watcher.seqs(executionId).length
      const since = k % 3 === 0 ? 0 : k % 3 === 1 ? seen : Math.max(0, seen - 37 * k)
      const s = await open(server.url)
      s.send({ type: 'subscribe', id: 1, executionId, since })
      joiners.push({ s, since })
    }
    await Promise.all([watcher, ...joiners.map((j) => j.s)].map((s) => s.streamEnd(executionId, 20_000)))
    expect(watcher.seqs(executionId)).toEqual(range(1, N))
    for (const { s, since } of joiners) expect(s.seqs(executionId)).toEqual(range(since + 1, N))
  })

  it("one socket's stop_stream ends every subscriber's stream; the execution runs on", async () => {
    const gate = new Gate()
    const server = await serve({ gate })
    const { executionId } = await start(server, 'gated', { before: 3, after: 5 })
    const subs = await Promise.all(Array.from({ length: 5 }, () => open(server.url)))
    for (const s of subs) await s.subscribe(executionId)
    await Promise.all(subs.map((s) => s.until(() => s.seqs(executionId).length === 3)))
    const ack = await subs[0]!.request({ type: 'stop_stream', executionId })
    expect(ack).toMatchObject({ type: 'ack', stopped: true })
    for (const s of subs) {
      expect(await s.streamEnd(executionId)).toMatchObject({ reason: 'stopped', by: 'admin', lastSeq: 3 })
      expect(s.seqs(executionId)).toEqual([1, 2, 3])
    }
    const again = await subs[1]!.request({ type: 'stop_stream', executionId })
    expect(again).toMatchObject({ type: 'ack', alreadyStopped: true })
    const snap = await getJson(`${server.url}/api/executions/${executionId}`)
    expect(snap.body).toMatchObject({ status: 'running', streamOpen: false })
    gate.open()
    const result = await getJson(`${server.url}/api/executions/${executionId}/result?wait=5000`)
    expect(result).toEqual({
      status: 200,
      body: { status: 'completed', result: { finished: true, dropped: 5 } },
    })
    // Subscribers still learn the execution's end.
    for (const s of subs) await s.next((f) => f.type === 'status' && f.status === 'completed')
  })

  it('sends status on every change and continues an interrupt', async () => {
    const server = await serve()
    const { executionId } = await start(server, 'ask')
    const s = await open(server.url)
    const subscribed = await s.subscribe(executionId)
    const pause = (await s.until(() => s.items(executionId)[0])) as any
    expect(pause).toMatchObject({ type: 'interrupt', action: 'pause' })
    // Already waiting when we subscribed (then `subscribed` says so), or told by a status frame.
    if (subscribed.status !== 'waiting') await s.next((f) => f.type === 'status' && f.status === 'waiting')
    const ack = await s.request({
      type: 'continue',
      executionId,
      interruptId: pause.interrupt.id,
      value: { ok: true },
    })
    expect(ack).toMatchObject({ type: 'ack', continued: true })
    await s.streamEnd(executionId)
    const statuses = s.ofType('status').map((f) => f.status)
    expect(statuses.slice(-2)).toEqual(['running', 'completed'])
    expect(s.items(executionId).at(-1)).toEqual({ answer: { ok: true } })
    const wrong = await s.request({
      type: 'continue',
      executionId,
      interruptId: pause.interrupt.id,
      value: 1,
    })
    expect(wrong).toMatchObject({ type: 'error', code: 'interrupt_not_waiting' })
  })

  it('throttles presence: joins within one interval yield one frame with the final count, not before the interval', async () => {
    const gate = new Gate()
    const intervalMs = 1500
    const server = await serve({ gate, limits: { presenceIntervalMs: intervalMs } })
    const { executionId } = await start(server, 'gated')
    const a = await open(server.url)
    await a.subscribe(executionId)
    // The room's first presence goes out at once; it starts the interval.
    await a.next((f) => f.type === 'presence', 5_000, 'the first presence')
    const firstAt = Date.now()
    const others = await Promise.all(Array.from({ length: 4 }, () => open(server.url)))
    await Promise.all(others.map((s) => s.subscribe(executionId)))
    // A round trip on every socket after the joins: an unthrottled count would be here by now.
    await Promise.all([a, ...others].map((s) => s.request({ type: 'ping' })))
    const presence = (s: TestSocket) => s.ofType('presence').map((f) => f.subscribers)
    expect(presence(a)).toEqual([1])
    for (const s of others) expect(presence(s)).toEqual([])
    await Promise.all(
      [a, ...others].map((s) => s.next((f) => f.type === 'presence' && f.subscribers === 5, 3 * intervalMs)),
    )
    // The slack covers the first frame's trip and a timer firing a little early, far below the interval.
    expect(Date.now() - firstAt).toBeGreaterThanOrEqual(intervalMs - 100)
    expect(presence(a)).toEqual([1, 5])
    for (const s of others) expect(presence(s)).toEqual([5])
    gate.open()
  })

  it('a flow that throws reaches its room as failed + stream_end failed; the server serves on', async () => {
    const server = await serve()
    const { executionId } = await start(server, 'thrower')
    const s = await open(server.url)
    await s.subscribe(executionId)
    const end = await s.streamEnd(executionId)
    expect(end).toMatchObject({ reason: 'failed', lastSeq: 2 })
    expect(s.seqs(executionId)).toEqual([1, 2])
    const failed =
      s.frames.find((f) => f.type === 'status' && f.status === 'failed') ?? s.ofType('subscribed')[0]
    expect(failed!.status).toBe('failed')
    const result = await getJson(`${server.url}/api/executions/${executionId}/result`)
    expect(result.status).toBe(200)
    expect(result.body.status).toBe('failed')
    expect(result.body.error.message).toContain('boom')
    const next = await start(server, 'ticker', { count: 2 })
    await s.subscribe(next.executionId)
    await s.streamEnd(next.executionId)
    expect(s.seqs(next.executionId)).toEqual([1, 2])
  })

  it('terminates a socket that misses a pong', async () => {
    const server = await serve({ limits: { heartbeatMs: 50 } })
    const silent = new TestSocket(`${server.url.replace('http', 'ws')}/ws`, { autoPong: false })
    sockets.push(silent)
    const healthy = await open(server.url)
    expect(await waitFor(silent.closed, 5_000, 'the silent socket to be terminated')).toBe(1006)
    // The healthy one answers pings (ws does it by itself) and stays.
    await healthy.request({ type: 'ping' })
    expect(healthy.closeCode).toBeUndefined()
  })

  it('heartbeat pings are ping frames with an 8-byte payload, each fresh; answering them keeps the socket', async () => {
    const server = await serve({ limits: { heartbeatMs: 20 } })
    const s = await open(server.url)
    const payloads: Buffer[] = []
    const five = new Promise<void>((resolve) => {
      s.ws.on('ping', (data: Buffer) => {
        if (payloads.push(Buffer.from(data)) === 5) resolve()
      })
    })
    await waitFor(five, 5_000, 'five heartbeat pings')
    expect(payloads.every((p) => p.length === 8)).toBe(true)
    expect(new Set(payloads.map((p) => p.toString('hex'))).size).toBe(payloads.length)
    // ws answered each ping with its payload (autoPong): the server still has the socket.
    const pong = await s.request({ type: 'ping' })
    expect(pong.type).toBe('pong')
    expect(s.closeCode).toBeUndefined()
  })

  it('unsubscribe stops delivery and acks', async () => {
    const server = await serve()
    const { executionId } = await start(server, 'ticker', { count: 2000, every: 'tick' })
    const s = await open(server.url)
    await s.subscribe(executionId)
    await s.until(() => s.seqs(executionId).length > 10)
    const ack = await s.request({ type: 'unsubscribe', executionId })
    expect(ack).toMatchObject({ type: 'ack', unsubscribed: true })
    const n = s.seqs(executionId).length
    const again = await s.request({ type: 'ping' })
    expect(again.type).toBe('pong')
    expect(s.seqs(executionId).length).toBe(n)
    expect(s.seqs(executionId)).toEqual(range(1, n))
  })
})
