/**
 * A node that is alive but misses its lease (here a CPU-bound step three leases long): another
 * node takes its execution over from the checkpoint and runs the step again (attempt 2), and from
 * then on nothing the slow node does may count. Its writes are fenced in Redis (none of its own
 * run's events get in), it notices, stops its own copy and answers from Redis like the others,
 * so A, B and C all report the same result. A's own watchers (WebSocket and SSE, served from its
 * memory until then) go on from the Redis log after the last seq they got: they see what B's
 * and C's watchers see, not one item of A's own run after the stall.
 */
import { fileURLToPath } from 'node:url'
import { beforeEach, expect, it } from 'vitest'
import { DEFAULT_LIMITS } from '../../server/options.ts'
import { readSse, type SseRead, sseSeqs } from '../helpers/sse-client.ts'
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
  it('another node takes the execution over and completes it; nothing of the slow node gets in; every node answers the same', async () => {
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
    const sse: SseRead = await readSse(`${a.url}/api/executions/${id}/stream`, {
      authorization: `Bearer ${tokens!.viewer}`,
    })
    await until(
      () =>
        [...remote, local].every((w) => w.events.length === K && w.statuses.at(-1) === 'waiting') &&
        sseSeqs(sse.messages).length === K,
      10_000,
      'events 1..K and status waiting on A, B and C, and over SSE on A',
    )

    // Answer the interrupt: A resumes into a step that blocks it for three leases.
    const interrupt = (await get(b.url, '')).body.pendingInterrupts[0].id as string
    const go = await fetch(`${b.url}/api/executions/${id}/interrupts/${interrupt}/continue`, {
      method: 'POST',
      headers: { ...auth, 'content-type': 'application/json' },
      body: JSON.stringify({ value: true }),
    })
    expect(go.status).toBe(200)

    // B or C takes it over while A is blocked and finishes it; then A learns it was fenced.
    const AFTER = 30
    await until(() => remote.every((w) => w.end !== null), 10 * LEASE_MS + 10_000, 'stream_end on B and C')
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
    // K + 1: the interrupt's answer, put by A before its step began.
    const lastSeq = K + 1 + AFTER
    for (const node of [a, b, c]) {
      expect(await get(node.url, '/result')).toEqual({
        status: 200,
        body: { status: 'completed', result: 'done' },
      })
      expect((await get(node.url, '')).body).toMatchObject({
        status: 'completed',
        streamOpen: false,
        lastSeq,
      })
    }

    // Subscribers elsewhere got 1..K, then the re-run's events (attempt 2), then completed.
    for (const w of remote) {
      expect(w.seqs()).toEqual(range(1, lastSeq))
      expect((w.events[K]!.data as { action?: string }).action).toBe('resume')
      expect(w.events.slice(K + 1).every((e) => e.attempt === 2)).toBe(true)
      expect(w.end).toEqual({ reason: 'completed', lastSeq })
      expect(w.statuses.at(-1)).toBe('completed')
      expect(w.gaps).toEqual([])
    }
    // A's own watchers were served from A's memory; after the fence they go on from Redis after
    // the last seq they got: the same 1..lastSeq, attempt 2 after K + 1, and completed.
    await until(() => local.end !== null, 5000, 'stream_end on A')
    expect(local.errors).toEqual([])
    expect(local.gaps).toEqual([])
    expect(local.seqs()).toEqual(range(1, lastSeq))
    expect(local.events.slice(K + 1).every((e) => e.attempt === 2)).toBe(true)
    expect(local.end).toEqual({ reason: 'completed', lastSeq })
    expect(local.statuses.at(-1)).toBe('completed')
    await waitFor(sse.done, 5000, 'the SSE response on A to end')
    expect(sseSeqs(sse.messages)).toEqual(range(1, lastSeq))
    const items = sse.messages
      .filter((m) => m.event === 'event' || m.event === 'events')
      .flatMap((m) => (m.event === 'event' ? [JSON.parse(m.data)] : JSON.parse(m.data).items))
    expect(items.slice(K + 1).every((e: { attempt?: number }) => e.attempt === 2)).toBe(true)
    expect(sse.messages.filter((m) => m.event === 'gap' || m.event === 'error')).toEqual([])
    expect(
      sse.messages
        .filter((m) => m.event === 'status')
        .map((m) => JSON.parse(m.data).status)
        .at(-1),
    ).toBe('completed')
    expect(JSON.parse(sse.messages.at(-1)!.data)).toMatchObject({
      type: 'stream_end',
      reason: 'completed',
      lastSeq,
    })

    // In Redis: events 1..K + 1, then only the re-run's (attempt 2): nothing of A's own run got in.
    const log = await cluster.redis.xrange(`${cluster.prefix}x:${id}:log`, '-', '+')
    const events = log.filter(([, f]) => f[0] === 'e')
    expect(events.map(([entryId]) => entryId)).toEqual(range(1, lastSeq).map((s) => `${s}-0`))
    expect(events.slice(K + 1).every(([, f]) => JSON.parse(f[1]!).attempt === 2)).toBe(true)
    const meta = await cluster.redis.hgetall(`${cluster.prefix}x:${id}:meta`)
    expect(meta.status).toBe('completed')
    expect(Number(meta.lastSeq)).toBe(lastSeq)
    for (const key of [`${cluster.prefix}x:${id}:meta`, `${cluster.prefix}x:${id}:log`]) {
      const ttl = await cluster.redis.pttl(key)
      expect(ttl).toBeGreaterThan(0)
      expect(ttl).toBeLessThanOrEqual(DEFAULT_LIMITS.finishedTtlMs)
    }
    const nodeA = (await cluster.redis.hget(`${cluster.prefix}x:${later.executionId}:meta`, 'node'))!
    expect(meta.node).not.toBe(nodeA)
    // A renewed its lease afterwards and is a live node again; its set of runs lists nothing lost.
    expect(await cluster.redis.zscore(`${cluster.prefix}nodes`, nodeA)).not.toBeNull()
    expect(await cluster.redis.sismember(`${cluster.prefix}node:${nodeA}:runs`, id)).toBe(0)
  })
})
