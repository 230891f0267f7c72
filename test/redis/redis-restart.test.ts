/**
 * Redis stopped and restarted under two nodes. The test runs its OWN redis-server on a free
 * port (no persistence, so a restart loses every key) and never touches the shared one.
 */
import { afterEach, expect, it } from 'vitest'
import { type FlowcastClient, isFlowcastError } from '../../client-sdk/index.ts'
import { type FlowcastServer, startServer } from '../../server/index.ts'
import { eventually } from '../helpers/poll.ts'
import { until } from '../helpers/wait.ts'
import {
  describeRedis,
  hasRedisServer,
  newPrefix,
  type OwnRedis,
  ownRedis,
  REQUIRED,
  range,
  sdkClient,
  startOn,
} from './env.ts'
import { watch } from './watch.ts'

const servers: FlowcastServer[] = []
const clients: FlowcastClient[] = []
let redis: OwnRedis | undefined

afterEach(async () => {
  for (const c of clients.splice(0)) c.close()
  for (const s of servers.splice(0)) await s.close()
  await redis?.stop()
  redis = undefined
})

const canSpawn = await hasRedisServer()

async function health(url: string): Promise<{ status: number; body: any }> {
  const res = await fetch(`${url}/healthz`)
  return { status: res.status, body: await res.json() }
}

describeRedis('redis: stopped and restarted', () => {
  // Under FLOWCAST_REQUIRE_REDIS=1 a missing redis-server binary fails the test instead.
  it.skipIf(!canSpawn && !REQUIRED)(
    '/healthz says the broker is down, clients get broker_unavailable, and the nodes recover by themselves',
    async () => {
      redis = await ownRedis()
      const prefix = newPrefix()
      const opts = { port: 0, auth: 'off' as const, redisUrl: redis.url, keyPrefix: prefix }
      const a = await startServer(opts)
      servers.push(a)
      const b = await startServer(opts)
      servers.push(b)
      const N = 600
      const id = await startOn(a.url, 'long-job', { count: N, size: 32, intervalMs: 5 })
      const sdk = sdkClient([b.url])
      clients.push(sdk)
      const w = watch(sdk, id)
      // Another one, finished before the outage and watched by nobody on B yet.
      const other = await startOn(a.url, 'long-job', { count: 40, size: 16, intervalMs: 0 })
      expect(await sdk.result(other, { wait: 5_000 })).toMatchObject({ status: 'completed' })
      await until(() => w.events.length >= 30, 10_000, 'first events through B')

      await redis.stop()
      for (const url of [a.url, b.url]) {
        await eventually(async () => (await health(url)).status === 503, 5_000, `503 from ${url}/healthz`)
        const h = await health(url)
        expect(h.body.ok).toBe(false)
        expect(h.body.broker.kind).toBe('redis')
        expect(h.body.broker.ok).toBe(false)
        expect(h.body.broker.detail).toMatch(/redis/)
      }
      // Clear errors while Redis is away: HTTP 503 broker_unavailable, and the SDK's FlowcastError.
      const refused = await fetch(`${b.url}/api/flows/long-job/executions`, {
        method: 'POST',
        headers: { 'content-type': 'application/json' },
        body: JSON.stringify({ input: { count: 5 } }),
      })
      expect(refused.status).toBe(503)
      expect(((await refused.json()) as any).error.code).toBe('broker_unavailable')
      const err = await sdk.result(id).then(
        () => undefined,
        (e: unknown) => e,
      )
      expect(isFlowcastError(err, 'broker_unavailable')).toBe(true)
      const lateOnB = sdkClient([b.url])
      clients.push(lateOnB)
      // B serves `id` from its room's cache still, but `other` would need Redis to open.
      const late = watch(lateOnB, other)
      await until(() => late.errors.length > 0, 5_000, 'a subscribe error while Redis is away')
      expect(late.errors[0]!.code).toBe('broker_unavailable')
      expect(late.errors[0]!.message).toMatch(/redis/)

      // Redis comes back empty: the nodes reconnect, A writes its execution again, B's reader resumes.
      await redis.start()
      for (const url of [a.url, b.url]) {
        await eventually(async () => (await health(url)).status === 200, 10_000, `200 from ${url}/healthz`)
      }
      await until(() => w.end !== null, 20_000, 'stream_end through B after the restart')
      expect(w.seqs()).toEqual(range(1, N))
      expect(w.gaps).toEqual([])
      expect(w.end).toEqual({ reason: 'completed', lastSeq: N })
      expect(await sdk.result(id, { wait: 5_000 })).toEqual({
        status: 'completed',
        result: { put: N, accepted: N },
      })
      // The refused subscription retried by itself and got the whole history A wrote again.
      await until(() => late.end !== null, 10_000, 'the late subscription ends')
      expect(late.seqs()).toEqual(range(1, 40))

      // New work flows again, across nodes.
      const again = await startOn(b.url, 'long-job', { count: 50, size: 16, intervalMs: 0 })
      const viaA = sdkClient([a.url])
      clients.push(viaA)
      const w2 = watch(viaA, again)
      await until(() => w2.end !== null, 10_000, 'the new execution ends')
      expect(w2.seqs()).toEqual(range(1, 50))
    },
  )
})
