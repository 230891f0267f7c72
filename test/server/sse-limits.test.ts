/**
 * SSE under the same limits as sockets: a response held open counts against
 * maxConnectionsPerAddress, and a slow-consumer close of an SSE reader that never reads ends
 * the HTTP response at once (the connection is torn down, not left to drain).
 */
import { afterEach, describe, expect, it } from 'vitest'
import { metric } from '../helpers/metrics.ts'
import { eventually } from '../helpers/poll.ts'
import { type RawClient, rawGet } from '../helpers/raw-client.ts'
import { readSse, type SseRead } from '../helpers/sse-client.ts'
import { waitFor } from '../helpers/wait.ts'
import { TestSocket } from '../helpers/ws-client.ts'
import { Gate, getJson, serve, start } from './fixtures.ts'

const sockets: TestSocket[] = []
const reads: SseRead[] = []
const raws: RawClient[] = []
afterEach(async () => {
  for (const r of reads.splice(0)) r.abort()
  for (const r of raws.splice(0)) r.destroy()
  await Promise.all(sockets.splice(0).map((s) => s.close()))
})

describe('SSE limits', () => {
  it('an SSE response holds a per-address slot, shared with WebSockets; it frees when the response ends', async () => {
    const gate = new Gate()
    const server = await serve({ gate, limits: { maxConnectionsPerAddress: 2 } })
    const { executionId } = await start(server, 'gated', { before: 1 })
    const stream = `${server.url}/api/executions/${executionId}/stream`
    const ws = await TestSocket.open(server.url)
    sockets.push(ws)
    const first = await readSse(stream)
    reads.push(first)
    expect(first.status).toBe(200)
    const refused = await readSse(stream)
    reads.push(refused)
    expect(refused.status).toBe(429)
    const body = await getJson(stream)
    expect(body).toMatchObject({ status: 429, body: { error: { code: 'too_many_connections' } } })
    const upgrade = new TestSocket(`${server.url.replace(/^http/, 'ws')}/ws`)
    sockets.push(upgrade)
    expect(await upgrade.upgradeStatus()).toBe(429)
    expect(await metric(server.url, 'flowcast_connections_refused_total\\{reason="per_address"\\}')).toBe(3)
    // The first stream ends with the execution: its slot is free again.
    gate.open()
    await waitFor(first.done, 5000, 'the first stream to end')
    await eventually(async () => (await readSseStatus(stream)) === 200, 5000, 'a free slot')
  })

  it('a slow-consumer close of an SSE reader that never reads tears the HTTP response down', async () => {
    const highWaterMark = 16 * 1024
    const server = await serve({
      limits: {
        highWaterMark,
        slowConsumerTimeoutMs: 200,
        drainCheckMs: 10,
        retainedBytes: 64 * 1024 * 1024,
      },
    })
    const big = await start(server, 'ticker', { count: 4000, size: 4096 })
    expect((await getJson(`${server.url}/api/executions/${big.executionId}/result?wait=10000`)).status).toBe(
      200,
    )
    const raw = await rawGet(server.port, `/api/executions/${big.executionId}/stream`)
    raws.push(raw)
    await eventually(
      async () => (await metric(server.url, 'flowcast_slow_consumer_closes_total')) === 1,
      10_000,
      'the slow-consumer close',
    )
    // Reading again, the client gets what was already on its way, then the end of the connection:
    // a response that was only ended would wait for the rest of its queue and keep the connection.
    raw.resume()
    await waitFor(raw.closed, 5000, 'the connection to close')
    const text = Buffer.concat(raw.received).toString('latin1')
    expect(text.startsWith('HTTP/1.1 200')).toBe(true)
    expect(text.endsWith('\r\n0\r\n\r\n')).toBe(false) // torn down, not a finished chunked body
    expect(text).not.toContain('event: stream_end')
    expect(await metric(server.url, 'flowcast_subscribers')).toBe(0)
  }, 30_000)
})

/** The status of an SSE request (its body is dropped at once). */
async function readSseStatus(url: string): Promise<number> {
  const r = await readSse(url)
  r.abort()
  return r.status
}
