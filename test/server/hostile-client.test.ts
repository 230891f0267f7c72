/**
 * Clients that send but never read, or flood: each is closed within a bound, the server's queue
 * for it stays bounded, and healthy subscribers get every seq. The heartbeat counts pongs only;
 * control replies respect the high-water mark; sustained abuse is judged over a time window; a
 * refused frame is not parsed.
 */
import { afterEach, describe, expect, it } from 'vitest'
import { metric } from '../helpers/metrics.ts'
import { eventually } from '../helpers/poll.ts'
import { type RawClient, rawWebSocket } from '../helpers/raw-client.ts'
import { waitFor } from '../helpers/wait.ts'
import { range, TestSocket } from '../helpers/ws-client.ts'
import { getJson, serve, start } from './fixtures.ts'

const sockets: TestSocket[] = []
const raws: RawClient[] = []
const timers: ReturnType<typeof setInterval>[] = []
afterEach(async () => {
  for (const t of timers.splice(0)) clearInterval(t)
  for (const r of raws.splice(0)) r.destroy()
  await Promise.all(sockets.splice(0).map((s) => s.close()))
})

const ping = (n: number) => JSON.stringify({ type: 'ping', id: `p${n}-${'x'.repeat(50)}` })

/** Sends `perTick` pings every `everyMs` on `raw` until the test ends. */
function pingLoop(raw: { sendText(t: string): void }, perTick: number, everyMs: number): void {
  let n = 0
  timers.push(
    setInterval(() => {
      for (let i = 0; i < perTick; i++) raw.sendText(ping(n++))
    }, everyMs),
  )
}

describe('hostile clients', () => {
  it('a client that floods pings and never reads is closed within a bound; healthy subscribers get every seq', async () => {
    const highWaterMark = 16 * 1024
    const server = await serve({ limits: { highWaterMark, heartbeatMs: 60_000 } })
    const healthy = await Promise.all([1, 2, 3].map(() => TestSocket.open(server.url)))
    sockets.push(...healthy)
    let largestFrame = 0
    for (const s of healthy)
      s.ws.on('message', (d: Buffer) => {
        largestFrame = Math.max(largestFrame, d.length)
      })
    const raw = await rawWebSocket(server.port)
    raws.push(raw)
    const N = 2000
    const { executionId } = await start(server, 'ticker', { count: N, every: 'tick', size: 64 })
    await Promise.all(healthy.map((s) => s.subscribe(executionId)))
    // 1500 frames a second against a bucket of 50: some always pass, the rest are refused.
    pingLoop(raw, 30, 20)
    const t0 = Date.now()
    await eventually(async () => (await metric(server.url, 'flowcast_connections')) === 3, 5000, 'the close')
    expect(Date.now() - t0).toBeLessThan(5000)
    expect(await metric(server.url, 'flowcast_rate_limited_total')).toBeGreaterThanOrEqual(100)
    await Promise.all(healthy.map((s) => s.streamEnd(executionId, 20_000)))
    for (const s of healthy) {
      expect(s.seqs(executionId)).toEqual(range(1, N))
      expect(s.closeCode).toBeUndefined()
    }
    expect(await metric(server.url, 'flowcast_socket_queued_bytes_peak')).toBeLessThanOrEqual(
      highWaterMark + largestFrame,
    )
  }, 30_000)

  it('the heartbeat counts pongs only: a client that sends (within the rate) but never reads is terminated', async () => {
    const server = await serve({ limits: { heartbeatMs: 100 } })
    const healthy = await TestSocket.open(server.url)
    sockets.push(healthy)
    const raw = await rawWebSocket(server.port)
    raws.push(raw)
    pingLoop(raw, 1, 50) // 20 a second: never rate limited
    await eventually(
      async () => (await metric(server.url, 'flowcast_connections')) === 1,
      3000,
      'the silent client to be terminated',
    )
    expect(await metric(server.url, 'flowcast_rate_limited_total')).toBe(0)
    // The healthy socket answers pings (ws does it for us) and stays.
    expect((await healthy.request({ type: 'ping' })).type).toBe('pong')
  })

  it('replies queued past the high-water mark: over controlOverdraftBytes the socket is closed (4008), its queue bounded', async () => {
    const highWaterMark = 16 * 1024
    const controlOverdraftBytes = 1024
    const catchUpBatch = 4
    const size = 4096
    const server = await serve({
      limits: {
        highWaterMark,
        controlOverdraftBytes,
        catchUpBatch,
        heartbeatMs: 60_000,
        slowConsumerTimeoutMs: 60_000,
        retainedBytes: 64 * 1024 * 1024,
      },
    })
    const big = await start(server, 'ticker', { count: 4000, size })
    expect((await getJson(`${server.url}/api/executions/${big.executionId}/result?wait=10000`)).status).toBe(
      200,
    )
    const raw = await rawWebSocket(server.port)
    raws.push(raw)
    // The replay fills the kernel's buffers, then the server's queue up to the mark.
    raw.sendText(JSON.stringify({ type: 'subscribe', id: 's', executionId: big.executionId }))
    await eventually(
      async () => (await metric(server.url, 'flowcast_socket_queued_bytes')) > highWaterMark,
      10_000,
      'the queue above the mark',
    )
    pingLoop(raw, 1, 50) // within the rate: only the queue can close it
    await eventually(
      async () => (await metric(server.url, 'flowcast_connections')) === 0,
      5000,
      'the 4008 close',
    )
    expect(await metric(server.url, 'flowcast_slow_consumer_closes_total')).toBe(1)
    expect(await metric(server.url, 'flowcast_rate_limited_total')).toBe(0)
    // The mark, the catch-up frame that crossed it, and the replies' allowance; nothing more.
    const largestFrame = catchUpBatch * (size + 200)
    expect(await metric(server.url, 'flowcast_socket_queued_bytes_peak')).toBeLessThanOrEqual(
      highWaterMark + largestFrame + controlOverdraftBytes,
    )
  }, 30_000)

  it('sustained abuse closes 4029 although some frames pass: refusals are counted over a window, not in a row', async () => {
    const server = await serve({ limits: { commandsPerSecond: 50, rateLimitCloseAfter: 100 } })
    const polite = await TestSocket.open(server.url)
    const abuser = await TestSocket.open(server.url)
    sockets.push(polite, abuser)
    let n = 0
    timers.push(
      setInterval(() => {
        for (let i = 0; i < 30; i++) abuser.send({ type: 'ping', id: n++ })
      }, 20),
    )
    expect(await waitFor(abuser.closed, 5000, 'the 4029 close')).toBe(4029)
    // Some frames passed on the way: a streak counter would have been reset by each of them.
    expect(abuser.ofType('pong').length).toBeGreaterThan(0)
    expect((await polite.request({ type: 'ping' })).type).toBe('pong')
    expect(polite.closeCode).toBeUndefined()
  })

  it('a refused frame is not parsed: its reply carries the id only from the leading {"type","id"} prefix', async () => {
    const server = await serve({ limits: { commandsPerSecond: 1, rateLimitCloseAfter: 1000 } })
    const s = await TestSocket.open(server.url)
    sockets.push(s)
    expect((await s.request({ type: 'ping' })).type).toBe('pong') // the bucket is empty now
    s.send('{"type":"ping","id":7}')
    s.send('{"type":"ping","id":"abc"}')
    s.send('{"id":9,"type":"ping"}')
    s.send('{"type":"ping","pad":1,"id":10}')
    await s.until(() => s.ofType('error').length === 4, 5000, 'four rate_limited replies')
    const errors = s.ofType('error')
    expect(errors.every((e) => e.code === 'rate_limited')).toBe(true)
    expect(errors.map((e) => e.id)).toEqual([7, 'abc', undefined, undefined])
  })
})
