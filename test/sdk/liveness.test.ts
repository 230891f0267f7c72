/**
 * Liveness (issue 12): `offline` drops the socket at once and `online` reconnects at once (not after
 * the backoff), with the subscription resuming exactly; a silent dead link is noticed within twice
 * the client's heartbeat, whose default keeps that under 20 s.
 */
import { describe, expect, it } from 'vitest'
import { DEFAULT_HEARTBEAT_MS } from '../../client-sdk/options.ts'
import { useCleanup } from '../helpers/cleanup.ts'
import { watchLoopLag } from '../helpers/loop-lag.ts'
import { createProxy } from '../helpers/tcp-proxy.ts'
import { until } from '../helpers/wait.ts'
import { nodeClient, range, startTestServer } from './fixtures.ts'

const own = useCleanup()

describe('liveness', () => {
  it('the default heartbeat notices a dead link within 20 s', () => {
    expect(2 * DEFAULT_HEARTBEAT_MS).toBeLessThan(20_000)
  })

  it('offline drops at once, online reconnects at once despite a long backoff; the sequence stays exact', async () => {
    const server = own(await startTestServer())
    const win = new EventTarget()
    const client = own(
      nodeClient(server.url, {
        environment: { window: win },
        // A backoff no test would wait for: only the `online` event can bring the socket back in time.
        reconnect: { baseMs: 600_000, maxMs: 600_000, minUptimeMs: 600_000, connectTimeoutMs: 5_000 },
      }),
    )
    const { executionId } = await client.start('long-job', { count: 300, size: 16, intervalMs: 5 })
    const seqs: number[] = []
    let ended = false
    client.subscribe(executionId, { onEvent: (ev) => seqs.push(ev.seq), onEnd: () => (ended = true) })
    await until(() => seqs.length >= 20 && client.connectionState === 'open', 10_000, 'first events')
    win.dispatchEvent(new Event('offline'))
    expect(client.connectionState).toBe('reconnecting')
    const at = seqs.length
    win.dispatchEvent(new Event('online'))
    await until(() => client.connectionState === 'open', 5_000, 'the reconnect on online')
    await until(() => ended, 20_000, 'stream_end')
    expect(at).toBeLessThan(300)
    expect(seqs).toEqual(range(1, 300))
  })

  it('a page turning visible reconnects at once', async () => {
    const server = own(await startTestServer())
    const proxy = own(await createProxy(server.port))
    const doc = Object.assign(new EventTarget(), { visibilityState: 'visible' })
    const client = own(
      nodeClient(`http://127.0.0.1:${proxy.port}`, {
        environment: { document: doc },
        reconnect: { baseMs: 600_000, maxMs: 600_000, minUptimeMs: 600_000, connectTimeoutMs: 5_000 },
      }),
    )
    await until(() => client.connectionState === 'open', 5_000, 'open')
    proxy.cutAll()
    await until(() => client.connectionState === 'reconnecting', 5_000, 'the drop')
    doc.dispatchEvent(new Event('visibilitychange'))
    await until(() => client.connectionState === 'open', 5_000, 'the reconnect on visible')
  })

  it('a silent dead link is noticed within 2x the client heartbeat (the server heartbeat is 30 s)', async () => {
    const server = own(await startTestServer({ heartbeatMs: 30_000 }))
    const proxy = own(await createProxy(server.port))
    const heartbeatMs = 1_000
    const client = own(nodeClient(`http://127.0.0.1:${proxy.port}`, { heartbeatMs }))
    const { executionId } = await client.start('long-job', { count: 3, size: 16, intervalMs: 60_000 })
    const seqs: number[] = []
    client.subscribe(executionId, { onEvent: (ev) => seqs.push(ev.seq) })
    await until(() => seqs.length === 1, 5_000, 'the first event')
    proxy.pause()
    const pausedAt = Date.now()
    const lag = watchLoopLag()
    await until(() => client.connectionState === 'reconnecting', 10_000, 'the watchdog')
    const noticedMs = Date.now() - pausedAt
    const lateMs = lag.stop()
    console.log(
      `dead link noticed after ${noticedMs} ms (heartbeat ${heartbeatMs} ms, bound ${2 * heartbeatMs} ms, timers up to ${lateMs.toFixed(0)} ms late)`,
    )
    // The bound, plus the watchdog's tick and however late this process's timers ran meanwhile.
    expect(noticedMs).toBeLessThan(2 * heartbeatMs + 150 + lateMs)
    proxy.resume()
  })
})
