/**
 * A node whose Redis is down (issue 14, point 7): `flowcast serve` started before its Redis does
 * not exit. It listens, `/readyz` answers 503 naming the broker, it retries with backoff and logs
 * the Redis URL (password redacted) once per change of state, and it serves as soon as Redis
 * answers; an outage later on is ridden out the same way. The test runs its OWN redis-server on a
 * free port, with a password, and never touches the shared one.
 */
import { afterEach, expect, it } from 'vitest'
import { serveCli, stopAll } from '../helpers/cli.ts'
import { eventually } from '../helpers/poll.ts'
import {
  describeRedis,
  hasRedisServer,
  newPrefix,
  type OwnRedis,
  ownRedis,
  REQUIRED,
  startOn,
} from './env.ts'

let redis: OwnRedis | undefined

afterEach(async () => {
  await stopAll()
  await redis?.stop()
  redis = undefined
})

const canSpawn = await hasRedisServer()
const PASSWORD = 'pw-never-in-a-log'

/** GET /readyz: the status and the body. */
async function readiness(url: string): Promise<{ status: number; body: any }> {
  const res = await fetch(`${url}/readyz`)
  return { status: res.status, body: await res.json() }
}

/** The reconnection retries /readyz reports for the current outage (0 while up). */
async function attempts(url: string): Promise<number> {
  const { body } = await readiness(url)
  return Number(/retry (\d+)/.exec(body.broker?.detail ?? '')?.[1] ?? 0)
}

describeRedis('redis: a node started while its Redis is down', () => {
  // Under FLOWCAST_REQUIRE_REDIS=1 a missing redis-server binary fails the test instead.
  it.skipIf(!canSpawn && !REQUIRED)(
    'listens not ready, logs the redacted URL once per change, serves once Redis answers, and rides out a later outage',
    async () => {
      redis = await ownRedis({ password: PASSWORD, started: false })
      const cli = await serveCli([], {
        FLOWCAST_AUTH: 'off',
        REDIS_URL: redis.url,
        FLOWCAST_KEY_PREFIX: newPrefix(),
        LOG_LEVEL: 'info',
      })
      const entries = () =>
        cli.lines.flatMap((l) => {
          try {
            return [JSON.parse(l) as Record<string, any>]
          } catch {
            return []
          }
        })
      const said = (msg: string) => entries().filter((e) => e.msg === msg)
      const redacted = `redis://[redacted]@127.0.0.1:${redis.port}`

      // Not ready, and why: the broker is named; new work is refused, retryably.
      const first = await readiness(cli.url)
      expect(first.status).toBe(503)
      expect(first.body).toMatchObject({ ok: false, draining: false, broker: { kind: 'redis', ok: false } })
      expect(first.body.broker.detail).toMatch(/^redis /)
      expect((await fetch(`${cli.url}/livez`)).status).toBe(200)
      const refused = await fetch(`${cli.url}/api/flows/long-job/executions`, {
        method: 'POST',
        headers: { 'content-type': 'application/json' },
        body: JSON.stringify({ input: { count: 1 } }),
      })
      expect(refused.status).toBe(503)
      expect(((await refused.json()) as any).error.code).toBe('broker_unavailable')
      const down = await cli.line((e) => e.msg === 'redis unreachable', 10_000, 'the down line')
      expect(down).toMatchObject({ level: 40, broker: 'redis', redisUrl: redacted })

      // It keeps trying (with backoff) and says so once, not once per attempt.
      await eventually(async () => (await attempts(cli.url)) >= 4, 20_000, 'four reconnection attempts')
      expect(said('redis unreachable')).toHaveLength(1)

      await redis.start()
      await eventually(async () => (await readiness(cli.url)).status === 200, 20_000, '/readyz 200')
      const up = await cli.line((e) => e.msg === 'redis reachable', 10_000, 'the up line')
      expect(up).toMatchObject({ level: 30, broker: 'redis', redisUrl: redacted })
      const id = await startOn(cli.url, 'long-job', { count: 20, size: 16, intervalMs: 0 })
      const result = await (await fetch(`${cli.url}/api/executions/${id}/result?wait=15000`)).json()
      expect(result).toEqual({ status: 'completed', result: { put: 20, accepted: 20 } })

      // Redis lost while the node runs: one line down, one line up, and it serves again.
      await redis.stop()
      await eventually(async () => (await readiness(cli.url)).status === 503, 10_000, '/readyz 503 again')
      await eventually(async () => (await attempts(cli.url)) >= 4, 20_000, 'four attempts again')
      expect(said('redis unreachable')).toHaveLength(2)
      expect(said('redis reachable')).toHaveLength(1)
      await redis.start()
      await eventually(async () => (await readiness(cli.url)).status === 200, 20_000, '/readyz 200 again')
      await eventually(async () => said('redis reachable').length === 2, 10_000, 'the second up line')
      const again = await startOn(cli.url, 'long-job', { count: 5, size: 16, intervalMs: 0 })
      const second = await (await fetch(`${cli.url}/api/executions/${again}/result?wait=15000`)).json()
      expect(second).toMatchObject({ status: 'completed' })

      expect(said('redis unreachable')).toHaveLength(2)
      // Nothing about Redis going away is a server error, and the password is never written. This
      // Redis came back empty (no persistence): the renewal then rightly reports, once, that the
      // node's lease was gone (a sweeper may have ended its executions).
      const errors = entries().filter((e) => e.level >= 50)
      expect(errors.filter((e) => e.context !== 'redis lease')).toEqual([])
      expect(errors.length).toBeLessThanOrEqual(1)
      expect(cli.lines.join('\n') + cli.stderr()).not.toContain(PASSWORD)
    },
    90_000,
  )
})
