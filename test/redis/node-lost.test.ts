import { expect, it } from 'vitest'
import { DEFAULT_LIMITS } from '../../server/options.ts'
import { until } from '../helpers/wait.ts'
import { describeRedis, type NodeProcess, range, startExecution, useCluster } from './env.ts'
import { watch } from './watch.ts'

const LEASE_MS = 1000
const cluster = useCluster(3, { FLOWCAST_LEASE_MS: String(LEASE_MS) })

describeRedis('redis: the running node is killed', () => {
  it('subscribers on B and C get the events up to the kill, then status failed and stream_end failed, once; the result is node_lost; the keys expire', async () => {
    const [a, b, c] = cluster.nodes as [NodeProcess, NodeProcess, NodeProcess]
    const N = 5000
    const { executionId: id, tokens } = await startExecution(
      a.url,
      'long-job',
      { count: N, size: 32, intervalMs: 4 },
      cluster.apiKey,
    )
    const viewer = (url: string) => cluster.client([url], tokens!.viewer)
    // Two nodes follow it, so two sweepers race to end it: it must still end once.
    const onB = [watch(viewer(b.url), id), watch(viewer(b.url), id), watch(viewer(c.url), id)]
    // A result wait on B that starts before the kill and must end with it.
    const waiting = fetch(`${b.url}/api/executions/${id}/result?wait=30000`, {
      headers: { authorization: `Bearer ${tokens!.viewer}` },
    }).then(async (r) => ({ status: r.status, body: await r.json() }))
    await until(() => onB.every((w) => w.events.length >= 40), 10_000, 'first events on B and C')
    const node = await cluster.redis.hget(`${cluster.prefix}x:${id}:meta`, 'node')
    expect(await cluster.redis.sismember(`${cluster.prefix}node:${node}:runs`, id)).toBe(1)

    a.child.kill('SIGKILL')
    await a.exited
    const killedAt = Date.now()
    const seenAtKill = onB[0]!.events.length
    await until(() => onB.every((w) => w.end !== null), 10 * LEASE_MS, 'stream_end on B and C')
    const elapsed = Date.now() - killedAt
    // One lease unrenewed, plus at most a renewal period of B, plus the reads.
    expect(elapsed).toBeLessThan(LEASE_MS + LEASE_MS / 3 + 1500)

    const lastSeq = onB[0]!.end!.lastSeq
    expect(lastSeq).toBeGreaterThanOrEqual(seenAtKill)
    expect(lastSeq).toBeLessThan(N)
    for (const w of onB) {
      expect(w.seqs()).toEqual(range(1, lastSeq))
      expect(w.end).toEqual({ reason: 'failed', lastSeq })
      expect(w.statuses.at(-1)).toBe('failed')
      expect(w.gaps).toEqual([])
      expect(w.errors).toEqual([])
    }

    const failed = {
      status: 'failed',
      error: { code: 'node_lost', message: `the node running execution ${id} stopped renewing its lease` },
    }
    expect(await waiting).toEqual({ status: 200, body: failed })
    const res = await fetch(`${b.url}/api/executions/${id}/result`, {
      headers: { authorization: `Bearer ${tokens!.viewer}` },
    })
    expect({ status: res.status, body: await res.json() }).toEqual({ status: 200, body: failed })
    const info = (await (
      await fetch(`${b.url}/api/executions/${id}`, { headers: { authorization: `Bearer ${tokens!.viewer}` } })
    ).json()) as Record<string, unknown>
    expect(info).toMatchObject({ status: 'failed', streamOpen: false, lastSeq })

    // Finished like any other: both keys expire; the dead node's lease and set of runs are gone.
    for (const key of [`${cluster.prefix}x:${id}:meta`, `${cluster.prefix}x:${id}:log`]) {
      const ttl = await cluster.redis.pttl(key)
      expect(ttl).toBeGreaterThan(0)
      expect(ttl).toBeLessThanOrEqual(DEFAULT_LIMITS.finishedTtlMs)
    }
    expect(await cluster.redis.exists(`${cluster.prefix}node:${node}:runs`)).toBe(0)
    expect(await cluster.redis.zscore(`${cluster.prefix}nodes`, node!)).toBeNull()
    // Ended once, though B and C both swept: exactly one failed status and one close in the stream.
    const markers = (
      await cluster.redis.xrevrange(`${cluster.prefix}x:${id}:log`, '+', '-', 'COUNT', 5)
    ).filter(([, f]) => f[0] !== 'e')
    expect(markers.map(([, f]) => f)).toEqual([
      ['c', JSON.stringify({ reason: 'failed', lastSeq })],
      ['s', 'failed'],
    ])
  })
})
