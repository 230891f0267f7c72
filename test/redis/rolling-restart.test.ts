/**
 * A rolling restart with Redis (issue 16): three `flowcast serve` processes run 20 executions;
 * each node in turn gets SIGTERM (drain: past the drain timeout it hands what still runs over
 * instead of ending it) and is replaced by a fresh one. Every execution completes, its log in
 * Redis is 1..lastSeq without a hole, and no node ended one. Prints hand-over -> claim per execution.
 * The executions are `held` (flows/held.ts): each runs on the node it started on until that node's
 * SIGTERM hands it over, so every SIGTERM meets running executions, however slow the machine.
 */
import { fileURLToPath } from 'node:url'
import { expect, it } from 'vitest'
import { eventually } from '../helpers/poll.ts'
import { waitFor } from '../helpers/wait.ts'
import {
  describeRedis,
  type NodeProcess,
  REDIS_URL,
  range,
  spawnNode,
  startExecution,
  useCluster,
} from './env.ts'

const LEASE_MS = 1000
const env = {
  FLOWCAST_LEASE_MS: String(LEASE_MS),
  FLOWCAST_DRAIN_TIMEOUT_MS: '200',
  FLOWCAST_EXTRA_FLOWS: fileURLToPath(new URL('./flows/held.ts', import.meta.url)),
}
const cluster = useCluster(3, env)

/** Every JSON log line a node prints from now on. */
function logLines(node: NodeProcess, into: Record<string, any>[]): void {
  let buf = ''
  node.child.stdout!.on('data', (c: Buffer) => {
    buf += c.toString()
    for (let at = buf.indexOf('\n'); at >= 0; at = buf.indexOf('\n')) {
      const line = buf.slice(0, at)
      buf = buf.slice(at + 1)
      try {
        into.push(JSON.parse(line))
      } catch {
        // not a log line
      }
    }
  })
}

describeRedis('redis: a rolling restart', () => {
  it('SIGTERM of each of three nodes in turn during 20 running executions: all 20 complete, each log whole', async () => {
    const lines: Record<string, any>[] = []
    for (const n of cluster.nodes) logLines(n, lines)
    const N = 300
    const ids: { id: string; admin: string }[] = []
    for (let i = 0; i < 20; i++) {
      const node = cluster.nodes[i % 3]!
      const { executionId, tokens } = await startExecution(
        node.url,
        'held',
        { count: N, size: 32, intervalMs: 30, holdAfter: 5 },
        cluster.apiKey,
      )
      ids.push({ id: executionId, admin: tokens!.admin })
    }
    const t0 = Date.now()
    for (let i = 0; i < 3; i++) {
      const old = cluster.nodes[i]!
      old.child.kill('SIGTERM')
      await waitFor(old.exited, 20_000, `node ${i} to drain and exit`)
      const fresh = await spawnNode({
        REDIS_URL,
        FLOWCAST_KEY_PREFIX: cluster.prefix,
        FLOWCAST_API_KEY: cluster.apiKey,
        FLOWCAST_SECRET: cluster.secret,
        ...env,
      })
      logLines(fresh, lines)
      cluster.nodes[i] = fresh
      console.log(`[rolling] node ${i} replaced at ${Date.now() - t0} ms`)
    }
    const url = cluster.nodes[0]!.url
    for (const { id, admin } of ids) {
      await eventually(
        async () => {
          const res = await fetch(`${url}/api/executions/${id}/result?wait=5000`, {
            headers: { authorization: `Bearer ${admin}` },
          })
          const body = (await res.json()) as { status: string; result?: unknown }
          if (body.status === 'completed') {
            expect(body.result).toEqual({ put: N, accepted: N })
            return true
          }
          expect(['running', 'waiting']).toContain(body.status)
          return false
        },
        60_000,
        `execution ${id} to complete`,
      ).catch(async (err) => {
        const { checkpoint: _c, ...meta } = await cluster.redis.hgetall(`${cluster.prefix}x:${id}:meta`)
        const about = lines.filter((l) => l.executionId === id).map((l) => `${l.time} ${l.msg}`)
        throw new Error(`${err}\nmeta: ${JSON.stringify(meta)}\nlog: ${about.join('; ')}`)
      })
      const log = await cluster.redis.xrange(`${cluster.prefix}x:${id}:log`, '-', '+')
      const seqs = log.filter(([, f]) => f[0] === 'e').map(([entryId]) => Number(entryId.split('-')[0]))
      expect(seqs).toEqual(range(1, seqs.length))
      expect(log.filter(([, f]) => f[0] === 's' && f[1] === 'failed')).toEqual([])
    }
    console.log(`[rolling] all complete at ${Date.now() - t0} ms`)
    const handed = lines.filter((l) => l.msg === 'execution handed over')
    const claimed = lines.filter((l) => l.msg === 'execution claimed')
    expect(handed.length).toBeGreaterThan(0)
    const gaps: number[] = []
    for (const h of handed) {
      const c = claimed.find((l) => l.executionId === h.executionId && l.time >= h.time)
      if (c) gaps.push(c.time - h.time)
    }
    expect(gaps.length).toBe(handed.length)
    console.log(
      `[outlive] rolling restart: ${handed.length} hand-overs, handed over -> claimed ${Math.min(...gaps)}..${Math.max(...gaps)} ms (median ${gaps.sort((x, y) => x - y)[gaps.length >> 1]} ms)`,
    )
  }, 120_000)
})
