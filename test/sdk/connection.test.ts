/**
 * The SDK's connection loop against a real server through a TCP proxy: the backoff resets only
 * after a connection stayed up, a connect that never completes is given up after
 * connectTimeoutMs, and a 4003 close is final.
 */
import { describe, expect, it } from 'vitest'
import type { FlowcastError } from '../../client-sdk/index.ts'
import type { FlowcastServer } from '../../server/index.ts'
import { useCleanup } from '../helpers/cleanup.ts'
import { watchLoopLag } from '../helpers/loop-lag.ts'
import { createProxy } from '../helpers/tcp-proxy.ts'
import { until } from '../helpers/wait.ts'
import { nodeClient, startTestServer } from './fixtures.ts'

const own = useCleanup()

/** Starts long-job on the server directly (not through the proxy, whose cuts would hit the POST). */
async function startLongJob(
  server: FlowcastServer,
  input: { count: number; size: number; intervalMs: number },
): Promise<string> {
  const res = await fetch(`${server.url}/api/flows/long-job/executions`, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify({ input }),
  })
  expect(res.status).toBe(201)
  return ((await res.json()) as { executionId: string }).executionId
}

/** One unmasked WebSocket close frame, as a server sends it. */
function wsClose(code: number, reason: string): Buffer {
  const payload = Buffer.concat([Buffer.from([code >> 8, code & 0xff]), Buffer.from(reason)])
  return Buffer.concat([Buffer.from([0x88, payload.length]), payload])
}

describe('client SDK connection loop', () => {
  it('keeps growing the backoff over connections cut at once, and resets it after one that stayed up minUptimeMs', async () => {
    const server = own(await startTestServer())
    const proxy = own(await createProxy(server.port))
    const p = proxy
    const baseMs = 20
    const minUptimeMs = 300
    const client = own(
      nodeClient(`http://127.0.0.1:${p.port}`, {
        reconnect: { baseMs, maxMs: 60_000, minUptimeMs, connectTimeoutMs: 5_000 },
      }),
    )
    // Each open (hello received) is cut on the next turn, far within minUptimeMs.
    const CUTS = 9
    let cutsLeft = CUTS
    const cuts: number[] = []
    let openedAt = 0
    client.onConnectionState((state) => {
      if (state !== 'open') return
      openedAt = Date.now()
      if (cutsLeft === 0) return
      cutsLeft--
      setImmediate(() => {
        cuts.push(Date.now())
        p.cutAll()
      })
    })
    const cutAndWait = async (): Promise<number> => {
      const n = p.acceptedAt.length
      const cutAt = Date.now()
      p.cutAll()
      await until(() => p.acceptedAt.length > n, 15_000, 'the reconnect after a cut')
      return p.acceptedAt[n]! - cutAt
    }
    // Waits up to 20, 40, ..., 5120 ms: about 5 s in all on average, 10 s at most.
    await until(
      () => cuts.length === CUTS && p.acceptedAt.length === CUTS + 1 && client.connectionState === 'open',
      20_000,
      `${CUTS} cut connections and one more open`,
    )
    const delays = cuts.map((t, k) => p.acceptedAt[k + 1]! - t)
    // Reset on every drop, each wait would stay under baseMs (plus the slack for a loaded machine).
    // Without a reset, the waits of retries 3..8 (ceilings 160..5120 ms) all stay under 120 ms with
    // probability 5e-6.
    const slackMs = 100
    expect(Math.max(...delays.slice(3))).toBeGreaterThan(baseMs + slackMs)

    // A connection that carries events for longer than minUptimeMs resets the backoff: the next
    // wait is under baseMs again (without the reset its ceiling would be 10 s and more). Three
    // times, so that a lucky short draw from a large ceiling cannot pass for a reset (p < 2e-6).
    const executionId = await startLongJob(server, { count: 5_000, size: 16, intervalMs: 10 })
    let lastEventAt = 0
    client.subscribe(executionId, {
      onEvent: () => {
        lastEventAt = Date.now()
      },
    })
    // The bound is wide for a loaded machine: without the reset each wait is a uniform draw from a
    // ceiling of 10 s, 20 s, 40 s, so all three stay under 1 s with probability about 1e-4.
    const resetBoundMs = 1_000
    for (let round = 0; round < 3; round++) {
      await until(
        () => client.connectionState === 'open' && lastEventAt - openedAt > minUptimeMs + 50,
        10_000,
        'events on a connection older than minUptimeMs',
      )
      expect(await cutAndWait()).toBeLessThan(resetBoundMs)
    }
  }, 45_000)

  it('gives up a connect that never completes after connectTimeoutMs and tries again', async () => {
    const server = own(await startTestServer())
    const proxy = own(await createProxy(server.port))
    const p = proxy
    // TCP is accepted, but not one byte of the upgrade passes.
    p.pause()
    const connectTimeoutMs = 300
    const maxMs = 50
    const createdAt = Date.now()
    const lag = watchLoopLag()
    const client = own(
      nodeClient(`http://127.0.0.1:${p.port}`, {
        reconnect: { baseMs: 10, maxMs, minUptimeMs: 1000, connectTimeoutMs },
      }),
    )
    const states: string[] = []
    let gaveUpAt = 0
    client.onConnectionState((s) => {
      states.push(s)
      if (s === 'reconnecting' && gaveUpAt === 0) gaveUpAt = Date.now()
    })
    await until(() => p.acceptedAt.length >= 2, connectTimeoutMs + maxMs + 2_000, 'a second attempt')
    // Timers fire late on a loaded machine, never early: the attempt began after createdAt and
    // was given up no sooner than connectTimeoutMs after it began. (The proxy's accept times lag
    // the client's start by a loaded machine's scheduling delay, so they bound nothing below.)
    expect(gaveUpAt - createdAt).toBeGreaterThanOrEqual(connectTimeoutMs)
    const gap = p.acceptedAt[1]! - p.acceptedAt[0]!
    // Two timers (the give-up and the backoff) and two accepts, each late by up to the loop's lag.
    expect(gap).toBeLessThan(connectTimeoutMs + maxMs + 100 + 2 * lag.stop())
    expect(states[0]).toBe('reconnecting')
    // The link comes back: the attempt under way completes.
    p.resume()
    await until(() => client.connectionState === 'open', 5_000, 'the connection to open')
  })

  it('a close with 4003 (forbidden) is final: no reconnect, state closed, error forbidden', async () => {
    const server = own(await startTestServer())
    const proxy = own(await createProxy(server.port))
    const p = proxy
    const clientErrors: FlowcastError[] = []
    const client = own(nodeClient(`http://127.0.0.1:${p.port}`, { onError: (err) => clientErrors.push(err) }))
    const executionId = await startLongJob(server, { count: 2, size: 16, intervalMs: 60_000 })
    const seqs: number[] = []
    const subErrors: FlowcastError[] = []
    client.subscribe(executionId, {
      onEvent: (ev) => seqs.push(ev.seq),
      onError: (err) => subErrors.push(err),
    })
    await until(() => seqs.length === 1, 5_000, 'seq 1')
    const states: string[] = []
    client.onConnectionState((s) => states.push(s))
    // The execution is quiet for a minute: the close frame cannot split a real frame.
    expect(p.injectToClients(wsClose(4003, 'forbidden'))).toBe(1)
    await until(() => client.connectionState === 'closed', 5_000, 'state closed')
    // A reconnect would have gone through 'reconnecting' at the drop itself.
    expect(states).toEqual(['closed'])
    expect(clientErrors.map((e) => e.code)).toEqual(['forbidden'])
    expect(subErrors.map((e) => e.code)).toEqual(['forbidden'])
    expect(p.accepted).toBe(1)
    expect(seqs).toEqual([1])
  })
})
