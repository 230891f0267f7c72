/**
 * Slow consumers over real sockets: a client that stops reading is paused by the server (its
 * queue stays near the high-water mark), the healthy ones receive everything, and the slow one
 * catches up exactly when it reads again, or is closed with 4008 when it never does.
 */
import { afterEach, describe, expect, it } from 'vitest'
import { metric } from '../helpers/metrics.ts'
import { eventually } from '../helpers/poll.ts'
import { waitFor } from '../helpers/wait.ts'
import { range, TestSocket } from '../helpers/ws-client.ts'
import { Gate, getJson, serve, start } from './fixtures.ts'

const sockets: TestSocket[] = []
afterEach(async () => {
  await Promise.all(sockets.splice(0).map((s) => s.close()))
})

/** Stops reading from the TCP socket, so the server's queue for it fills. */
function pauseReading(s: TestSocket): () => void {
  const raw = (s.ws as unknown as { _socket: { pause(): void; resume(): void } })._socket
  raw.pause()
  return () => raw.resume()
}

describe('slow consumers', () => {
  it('one paused socket among healthy ones: they get everything, it catches up exactly', async () => {
    const server = await serve({ limits: { highWaterMark: 64 * 1024, slowConsumerTimeoutMs: 60_000 } })
    const N = 4000
    const healthy = await Promise.all(Array.from({ length: 5 }, () => TestSocket.open(server.url)))
    const slow = await TestSocket.open(server.url)
    sockets.push(...healthy, slow)
    const { executionId } = await start(server, 'ticker', { count: N, every: 'tick', size: 2048 })
    await Promise.all([...healthy, slow].map((s) => s.subscribe(executionId)))
    const resume = pauseReading(slow)
    await Promise.all(healthy.map((s) => s.streamEnd(executionId, 20_000)))
    for (const s of healthy) expect(s.seqs(executionId)).toEqual(range(1, N))
    expect(await metric(server.url, 'flowcast_slow_consumer_pauses_total')).toBeGreaterThan(0)
    resume()
    await slow.streamEnd(executionId, 20_000)
    expect(slow.seqs(executionId)).toEqual(range(1, N))
  })

  it('one paused socket among 100 healthy ones: they get every seq; its server-side queue stays under the cap', async () => {
    const highWaterMark = 64 * 1024
    const gate = new Gate()
    const server = await serve({
      gate,
      limits: { highWaterMark, catchUpBatch: 16, slowConsumerTimeoutMs: 60_000 },
    })
    // The slow socket first stops reading while a big finished execution is replayed to it: the
    // kernel buffers fill and the server holds it at the mark, so it is slow before the fast stream starts.
    const big = await start(server, 'ticker', { count: 1500, size: 4096 })
    expect((await getJson(`${server.url}/api/executions/${big.executionId}/result?wait=10000`)).status).toBe(
      200,
    )
    const slow = await TestSocket.open(server.url)
    sockets.push(slow)
    let largestFrame = 0
    slow.ws.on('message', (data: Buffer) => {
      if (data.length > largestFrame) largestFrame = data.length
    })
    const resume = pauseReading(slow)
    slow.send({ type: 'subscribe', id: 'big', executionId: big.executionId })
    await eventually(
      async () => (await metric(server.url, 'flowcast_socket_queued_bytes')) > highWaterMark,
      10_000,
    )

    const N = 1000
    const healthy = await Promise.all(Array.from({ length: 100 }, () => TestSocket.open(server.url)))
    sockets.push(...healthy)
    const { executionId } = await start(server, 'gated', { before: 0, after: N })
    await Promise.all(healthy.map((s) => s.subscribe(executionId)))
    slow.send({ type: 'subscribe', id: 'fast', executionId })
    await eventually(
      async () => (await getJson(`${server.url}/api/executions/${executionId}`)).body.subscribers === 101,
      10_000,
    )
    // Ended is cheap to watch: no per-frame scan over everything received so far.
    const ended = healthy.map(
      (s) =>
        new Promise<void>((resolve) =>
          s.ws.on('message', (data: Buffer) => {
            if (data.toString('utf8', 0, 32).startsWith('{"type":"stream_end"')) resolve()
          }),
        ),
    )
    gate.open()
    await waitFor(Promise.all(ended), 30_000, 'stream_end at every healthy socket')
    for (const s of healthy) expect(s.seqs(executionId)).toEqual(range(1, N))
    expect(await metric(server.url, 'flowcast_slow_consumer_pauses_total')).toBeGreaterThan(0)
    const peakWhilePaused = await metric(server.url, 'flowcast_socket_queued_bytes_peak')
    expect(peakWhilePaused).toBeGreaterThan(highWaterMark)

    resume()
    await slow.streamEnd(executionId, 30_000)
    await slow.streamEnd(big.executionId, 30_000)
    expect(slow.seqs(executionId)).toEqual(range(1, N))
    expect(slow.seqs(big.executionId)).toEqual(range(1, 1500))
    expect(slow.closeCode).toBeUndefined()
    // The most the server ever queued for one socket: the mark plus the frame that crossed it.
    const peak = await metric(server.url, 'flowcast_socket_queued_bytes_peak')
    expect(peak).toBeLessThanOrEqual(highWaterMark + largestFrame)
  }, 60_000)

  it('a paused socket that falls out of retention gets what it had, gap {from, to}, then the retained tail', async () => {
    const retainedEvents = 100
    const server = await serve({
      limits: { retainedEvents, highWaterMark: 64 * 1024, slowConsumerTimeoutMs: 60_000 },
    })
    const slow = await TestSocket.open(server.url)
    sockets.push(slow)
    // 4 KB events: 16 MB in all, far beyond what the kernel buffers and the high-water mark hold.
    const N = 4000
    const { executionId } = await start(server, 'ticker', { count: N, every: 'tick', size: 4096 })
    await slow.subscribe(executionId)
    const resume = pauseReading(slow)
    const done = await getJson(`${server.url}/api/executions/${executionId}/result?wait=20000`)
    expect(done.body.status).toBe('completed')
    resume()
    await slow.streamEnd(executionId, 20_000)
    // Events and gaps in arrival order: 1..k, one gap up to the first retained seq, the tail.
    const got: (number | { from: number; to: number })[] = []
    for (const f of slow.frames) {
      if (f.executionId !== executionId) continue
      if (f.type === 'event') got.push(f.seq)
      else if (f.type === 'events') for (const it of f.items) got.push(it.seq)
      else if (f.type === 'gap') got.push({ from: f.from, to: f.to })
    }
    const at = got.findIndex((x) => typeof x !== 'number')
    expect(at).toBeGreaterThan(0)
    expect(got).toEqual([
      ...range(1, at),
      { from: at + 1, to: N - retainedEvents },
      ...range(N - retainedEvents + 1, N),
    ])
    expect(slow.closeCode).toBeUndefined()
  })

  it('a socket that never reads again is closed with 4008; the room goes on', async () => {
    const server = await serve({
      limits: { highWaterMark: 16 * 1024, slowConsumerTimeoutMs: 150, drainCheckMs: 10 },
    })
    const healthy = await TestSocket.open(server.url)
    const slow = await TestSocket.open(server.url)
    sockets.push(healthy, slow)
    const N = 3000
    const { executionId } = await start(server, 'ticker', { count: N, every: 'tick', size: 4096 })
    await healthy.subscribe(executionId)
    await slow.subscribe(executionId)
    const resume = pauseReading(slow)
    await eventually(
      async () => (await metric(server.url, 'flowcast_slow_consumer_closes_total')) === 1,
      15_000,
    )
    await healthy.streamEnd(executionId, 20_000)
    expect(healthy.seqs(executionId)).toEqual(range(1, N))
    resume()
    expect(await waitFor(slow.closed, 5_000, 'the slow socket to close')).toBe(4008)
    // What it did receive before the close was a prefix, in order.
    const got = slow.seqs(executionId)
    expect(got).toEqual(range(1, got.length))
  })
})
