/**
 * Slow consumers over real sockets: a client that stops reading is paused by the server (its
 * queue stays near the high-water mark), the healthy ones receive everything, and the slow one
 * catches up exactly when it reads again, or is closed with 4008 when it never does.
 */
import { afterEach, describe, expect, it } from 'vitest'
import { eventually } from '../helpers/poll.ts'
import { range, TestSocket } from '../helpers/ws-client.ts'
import { serve, start } from './fixtures.ts'

const sockets: TestSocket[] = []
afterEach(async () => {
  await Promise.all(sockets.splice(0).map((s) => s.close()))
})

async function metric(url: string, name: string): Promise<number> {
  const text = await (await fetch(`${url}/metrics`)).text()
  const m = new RegExp(`^${name} (\\d+)$`, 'm').exec(text)
  return m ? Number(m[1]) : Number.NaN
}

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
    expect(await slow.closed).toBe(4008)
    // What it did receive before the close was a prefix, in order.
    const got = slow.seqs(executionId)
    expect(got).toEqual(range(1, got.length))
  })
})
