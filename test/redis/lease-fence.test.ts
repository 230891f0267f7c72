/**
 * A node that is alive but misses its lease (here a CPU-bound step three leases long): the other
 * nodes end its execution as failed `node_lost`, and from then on nothing the slow node does may
 * change that. Its writes are fenced in Redis (no status, result or event after the close
 * marker), it notices, stops its own copy and answers from Redis like the others, so A, B and C
 * all report the same final outcome and the keys keep the finished TTL.
 */
import { fileURLToPath } from 'node:url'
import { beforeEach, expect, it } from 'vitest'
import { DEFAULT_LIMITS } from '../../server/options.ts'
import { until, waitFor } from '../helpers/wait.ts'
import { describeRedis, type NodeProcess, range, startExecution, useCluster } from './env.ts'
import { watch } from './watch.ts'

const LEASE_MS = 500
const STALL_MS = 3 * LEASE_MS
const cluster = useCluster(3, {
  FLOWCAST_LEASE_MS: String(LEASE_MS),
  FLOWCAST_EXTRA_FLOWS: fileURLToPath(new URL('./flows/stall.ts', import.meta.url)),
})
/** Everything node A printed since it started listening. */
let outA = ''

beforeEach(() => {
  outA = ''
  cluster.nodes[0]!.child.stdout!.on('data', (c: Buffer) => {
    outA += c.toString()
  })
})

describeRedis('redis: a node that outlives its lease is fenced', () => {
  it('the execution ends once as failed node_lost on every node; the slow node writes nothing after the close; the keys keep their TTL', async () => {
    const [a, b, c] = cluster.nodes as [NodeProcess, NodeProcess, NodeProcess]
    const BEFORE = 20
    // The `go` interrupt is a stream item of its own.
    const K = BEFORE + 1
    const { executionId: id, tokens } = await startExecution(
      a.url,
      'stall',
      { before: BEFORE, stallMs: STALL_MS, after: 30 },
      cluster.apiKey,
    )
    const auth = { authorization: `Bearer ${tokens!.admin}` }
    const get = async (url: string, route: string) => {
      const res = await fetch(`${url}/api/executions/${id}${route}`, { headers: auth })
      return { status: res.status, body: (await res.json()) as Record<string, any> }
    }
    const viewer = (url: string) => cluster.client([url], tokens!.viewer)
    const remote = [watch(viewer(b.url), id), watch(viewer(c.url), id)]
    const local = watch(viewer(a.url), id)
    await until(
      () => [...remote, local].every((w) => w.events.length === K && w.statuses.at(-1) === 'waiting'),
      10_000,
      'events 1..K and status waiting on A, B and C',
    )

    // Answer the interrupt: A resumes into a step that blocks it for three leases.
    const interrupt = (await get(b.url, '')).body.pendingInterrupts[0].id as string
    const go = await fetch(`${b.url}/api/executions/${id}/interrupts/${interrupt}/continue`, {
      method: 'POST',
      headers: { ...auth, 'content-type': 'application/json' },
      body: JSON.stringify({ value: true }),
    })
    expect(go.status).toBe(200)

    // B and C end it while A is blocked, then A learns it was fenced and says so.
    await until(() => remote.every((w) => w.end !== null), 10 * LEASE_MS, 'stream_end on B and C')
    await until(() => outA.includes('redis fence'), 10 * STALL_MS, 'node A to log that it was fenced')

    // A barrier: a later execution on A, finished as read from B, means A's writer has flushed
    // every tick since the fence.
    const later = await startExecution(a.url, 'stall', { before: 1, stallMs: 0, after: 1 }, cluster.apiKey)
    const laterAuth = { authorization: `Bearer ${later.tokens!.admin}` }
    const laterInfo = (await (
      await fetch(`${b.url}/api/executions/${later.executionId}`, { headers: laterAuth })
    ).json()) as { pendingInterrupts: { id: string }[] }
    await fetch(
      `${b.url}/api/executions/${later.executionId}/interrupts/${laterInfo.pendingInterrupts[0]!.id}/continue`,
      { method: 'POST', headers: { ...laterAuth, 'content-type': 'application/json' }, body: '{"value":1}' },
    )
    const laterResult = await waitFor(
      fetch(`${b.url}/api/executions/${later.executionId}/result?wait=10000`, { headers: laterAuth }).then(
        (r) => r.json(),
      ),
      15_000,
      'the later execution',
    )
    expect(laterResult).toEqual({ status: 'completed', result: 'done' })

    // One final answer, the same on every node, the slow one included.
    const failed = {
      status: 'failed',
      error: { code: 'node_lost', message: `the node running execution ${id} stopped renewing its lease` },
    }
    for (const node of [a, b, c]) {
      expect(await get(node.url, '/result')).toEqual({ status: 200, body: failed })
      expect((await get(node.url, '')).body).toMatchObject({
        status: 'failed',
        streamOpen: false,
        lastSeq: K,
      })
    }
    const history = await get(b.url, '/events')
    expect(history.body.items.map((i: { seq: number }) => i.seq)).toEqual(range(1, K))

    // Subscribers elsewhere got 1..K, then failed; nothing after the close.
    for (const w of remote) {
      expect(w.seqs()).toEqual(range(1, K))
      expect(w.end).toEqual({ reason: 'failed', lastSeq: K })
      expect(w.statuses.at(-1)).toBe('failed')
      expect(w.gaps).toEqual([])
    }
    // A's own subscriber is served from A's memory, yet it ends the same way.
    await until(() => local.end !== null, 5000, 'stream_end on A')
    expect(local.end!.reason).toBe('failed')
    expect(local.statuses.at(-1)).toBe('failed')

    // In Redis: events 1..K, then exactly the sweeper's status and close; the hash is final.
    const log = await cluster.redis.xrange(`${cluster.prefix}x:${id}:log`, '-', '+')
    const events = log.filter(([, f]) => f[0] === 'e').map(([entryId]) => entryId)
    expect(events).toEqual(range(1, K).map((s) => `${s}-0`))
    // (Whether A's `running` after the interrupt got in before the stall depends on scheduling.)
    const [s, c2] = log.slice(-2) as [[string, string[]], [string, string[]]]
    expect([s[1], c2[1]]).toEqual([
      ['s', 'failed'],
      ['c', JSON.stringify({ reason: 'failed', lastSeq: K })],
    ])
    expect(s[0]).toMatch(new RegExp(`^${K}-\\d+$`))
    expect(Number(c2[0].split('-')[1])).toBe(Number(s[0].split('-')[1]) + 1)
    expect(log.slice(0, -2).every(([, f]) => f[0] !== 's' || f[1] !== 'failed')).toBe(true)
    const meta = await cluster.redis.hgetall(`${cluster.prefix}x:${id}:meta`)
    expect(meta.status).toBe('failed')
    expect(JSON.parse(meta.error!)).toEqual(failed.error)
    expect(meta.result).toBeUndefined()
    expect(Number(meta.lastSeq)).toBe(K)
    for (const key of [`${cluster.prefix}x:${id}:meta`, `${cluster.prefix}x:${id}:log`]) {
      const ttl = await cluster.redis.pttl(key)
      expect(ttl).toBeGreaterThan(0)
      expect(ttl).toBeLessThanOrEqual(DEFAULT_LIMITS.finishedTtlMs)
    }
    // A renewed its lease afterwards and is a live node again; its set of runs lists nothing lost.
    const nodeA = meta.node!
    expect(await cluster.redis.zscore(`${cluster.prefix}nodes`, nodeA)).not.toBeNull()
    expect(await cluster.redis.sismember(`${cluster.prefix}node:${nodeA}:runs`, id)).toBe(0)
  })
})
