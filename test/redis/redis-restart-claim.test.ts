/**
 * Redis restarted in the middle of a claim (issue 16): the test's own redis-server with an
 * append-only file (fsync always), three `flowcast serve` processes. A runs six executions and is
 * killed; as soon as Redis shows the first of them taken from A (the sweep and the claims are under
 * way) Redis is killed and started again from its file. Every execution completes, none is lost,
 * and none ran twice at once: in each log the seqs have no hole, attempts never go back, and
 * within one attempt the items count up once (two nodes running the same attempt would repeat them).
 * The executions are `held` (flows/held.ts): their first attempt waits for A to die, never racing the kill.
 */
import { fileURLToPath } from 'node:url'

import { Redis } from 'ioredis'
import { afterEach, expect, it } from 'vitest'
import { eventually } from '../helpers/poll.ts'
import {
  describeRedis,
  hasRedisServer,
  type NodeProcess,
  newPrefix,
  type OwnRedis,
  ownRedis,
  REQUIRED,
  range,
  spawnNode,
  startExecution,
  stopNode,
} from './env.ts'

const LEASE_MS = 1000
const nodes: NodeProcess[] = []
let redis: OwnRedis | undefined
let probe: Redis | undefined

afterEach(async () => {
  await Promise.all(nodes.splice(0).map(stopNode))
  probe?.disconnect()
  probe = undefined
  await redis?.stop()
  redis = undefined
})

const canSpawn = await hasRedisServer()

describeRedis('redis: restarted during a claim', () => {
  it.skipIf(!canSpawn && !REQUIRED)(
    'kill -9 of the running node, then Redis killed and restarted (AOF) while the others claim: every execution completes, none ran twice at once',
    async () => {
      redis = await ownRedis({ persist: true })
      const env = {
        REDIS_URL: redis.url,
        FLOWCAST_KEY_PREFIX: newPrefix(),
        FLOWCAST_API_KEY: 'restart-claim-api-key-0123456789',
        FLOWCAST_SECRET: 'restart-claim-secret-0123456789abcdef0123456789',
        FLOWCAST_LEASE_MS: String(LEASE_MS),
        FLOWCAST_EXTRA_FLOWS: fileURLToPath(new URL('./flows/held.ts', import.meta.url)),
      }
      nodes.push(...(await Promise.all([spawnNode(env), spawnNode(env), spawnNode(env)])))
      const [a, b] = nodes as [NodeProcess, NodeProcess, NodeProcess]
      const N = 60
      const HOLD = 5
      const started = await Promise.all(
        Array.from({ length: 6 }, () =>
          startExecution(
            a.url,
            'held',
            { count: N, size: 16, intervalMs: 25, holdAfter: HOLD },
            env.FLOWCAST_API_KEY,
          ),
        ),
      )
      const ids = started.map((s) => s.executionId)
      const p = env.FLOWCAST_KEY_PREFIX
      probe = new Redis(redis.url, { maxRetriesPerRequest: 0, retryStrategy: () => 50 })
      probe.on('error', () => undefined)
      const r = probe
      const eventsIn = async (id: string) =>
        (await r.xrange(`${p}x:${id}:log`, '-', '+')).filter(([, f]) => f[0] === 'e').length
      await eventually(
        async () => (await Promise.all(ids.map(eventsIn))).every((n) => n >= HOLD),
        10_000,
        "the first attempt's items of each in Redis",
      )
      const nodeA = (await r.hget(`${p}x:${ids[0]}:meta`, 'node'))!
      a.child.kill('SIGKILL')
      await a.exited
      const killedAt = Date.now()
      // The moment the sweep has taken the first one from A: the claims are under way.
      await eventually(
        async () =>
          (await Promise.all(ids.map((id) => r.hget(`${p}x:${id}:meta`, 'node')))).some((n) => n !== nodeA),
        10 * LEASE_MS,
        'the first execution taken from A',
        2,
      )
      const takenAt = Date.now() - killedAt
      await redis.stop()
      await redis.start()
      const restartedAt = Date.now() - killedAt

      for (const { executionId: id, tokens } of started) {
        await eventually(
          async () => {
            const res = await fetch(`${b.url}/api/executions/${id}/result?wait=2000`, {
              headers: { authorization: `Bearer ${tokens!.viewer}` },
            }).catch(() => undefined)
            if (!res || res.status === 503) return false
            const body = (await res.json()) as { status: string; result?: unknown }
            expect(['running', 'waiting', 'completed']).toContain(body.status)
            if (body.status !== 'completed') return false
            expect(body.result).toEqual({ put: N, accepted: N })
            return true
          },
          60_000,
          `execution ${id} to complete`,
          100,
        )
      }
      const completedAt = Date.now() - killedAt
      for (const id of ids) {
        const entries = await r.xrange(`${p}x:${id}:log`, '-', '+')
        const events = entries
          .filter(([, f]) => f[0] === 'e')
          .map(([, f]) => JSON.parse(f[1]!) as { seq: number; attempt?: number; data: { n: number } })
        expect(events.map((e) => e.seq)).toEqual(range(1, events.length))
        const attempts = events.map((e) => e.attempt ?? 1)
        expect(attempts).toEqual([...attempts].sort((x, y) => x - y))
        for (const k of new Set(attempts)) {
          const ns = events.filter((e) => (e.attempt ?? 1) === k).map((e) => e.data.n)
          expect(ns).toEqual(range(1, ns.length))
        }
        const last = Math.max(...attempts)
        expect(events.filter((e) => (e.attempt ?? 1) === last)).toHaveLength(N)
      }
      console.log(
        `[outlive] redis restart during a claim: kill -> first taken ${takenAt} ms, Redis back ${restartedAt} ms, all ${ids.length} completed ${completedAt} ms; none ran twice at once`,
      )
    },
  )
})
