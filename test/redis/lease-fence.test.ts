/**
 * A node that is alive but misses its lease (here a CPU-bound step three leases long): the other
 * nodes end its execution as failed `node_lost`, and from then on nothing the slow node does may
 * change that. Its writes are fenced in Redis (no status, result or event after the close
 * marker), it notices, stops its own copy and answers from Redis like the others, so A, B and C
 * all report the same final outcome and the keys keep the finished TTL.
 */
import path from 'node:path'
import { Redis } from 'ioredis'
import { afterEach, beforeEach, expect, it } from 'vitest'
import type { FlowcastClient } from '../../client-sdk/index.ts'
import { DEFAULT_LIMITS } from '../../server/options.ts'
import { until, waitFor } from '../helpers/wait.ts'
import {
  describeRedis,
  dropPrefix,
  type NodeProcess,
  newPrefix,
  REDIS_URL,
  range,
  sdkClient,
  spawnNodes,
  startExecution,
  stopNode,
} from './env.ts'
import { watch } from './watch.ts'

const API_KEY = `key-${Math.random().toString(36).slice(2)}`
const SECRET = `secret-${Math.random().toString(36).slice(2)}-${Math.random().toString(36).slice(2)}`
const LEASE_MS = 500
const STALL_MS = 3 * LEASE_MS
let prefix = ''
let nodes: NodeProcess[] = []
/** Everything node A printed since it started listening. */
let outA = ''
const clients: FlowcastClient[] = []
let redis: Redis | undefined

beforeEach(async () => {
  prefix = newPrefix()
  // A variable, not a literal: spawnNode's env type names only the keys every test passes.
  const env = {
    REDIS_URL,
    FLOWCAST_KEY_PREFIX: prefix,
    FLOWCAST_API_KEY: API_KEY,
    FLOWCAST_SECRET: SECRET,
    FLOWCAST_LEASE_MS: String(LEASE_MS),
    FLOWCAST_EXTRA_FLOWS: path.join(import.meta.dirname, 'flows', 'stall.ts'),
  }
  nodes = await spawnNodes(3, env)
  outA = ''
  nodes[0]!.child.stdout!.on('data', (c: Buffer) => {
    outA += c.toString()
  })
  redis = new Redis(REDIS_URL, { maxRetriesPerRequest: 0 })
})

afterEach(async () => {
  for (const c of clients.splice(0)) c.close()
  await Promise.all(nodes.map(stopNode))
  nodes = []
  redis?.disconnect()
  redis = undefined
  await dropPrefix(REDIS_URL, prefix)
})

describeRedis('redis: a node that outlives its lease is fenced', () => {
  it('the execution ends once as failed node_lost on every node; the slow node writes nothing after the close; the keys keep their TTL', async () => {
    const [a, b, c] = nodes as [NodeProcess, NodeProcess, NodeProcess]
    const BEFORE = 20
    // The `go` interrupt is a stream item of its own.
    const K = BEFORE + 1
    const { executionId: id, tokens } = await startExecution(
      a.url,
      'stall',
      { before: BEFORE, stallMs: STALL_MS, after: 30 },
      API_KEY,
    )
    const auth = { authorization: `Bearer ${tokens!.admin}` }
    const get = async (url: string, route: string) => {
      const res = await fetch(`${url}/api/executions/${id}${route}`, { headers: auth })
      return { status: res.status, body: (await res.json()) as Record<string, any> }
    }
    const viewer = (url: string) => {
      const client = sdkClient([url], { token: tokens!.viewer })
      clients.push(client)
      return client
    }
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
    const later = await startExecution(a.url, 'stall', { before: 1, stallMs: 0, after: 1 }, API_KEY)
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
    const log = await redis!.xrange(`${prefix}x:${id}:log`, '-', '+')
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
    const meta = await redis!.hgetall(`${prefix}x:${id}:meta`)
    expect(meta.status).toBe('failed')
    expect(JSON.parse(meta.error!)).toEqual(failed.error)
    expect(meta.result).toBeUndefined()
    expect(Number(meta.lastSeq)).toBe(K)
    for (const key of [`${prefix}x:${id}:meta`, `${prefix}x:${id}:log`]) {
      const ttl = await redis!.pttl(key)
      expect(ttl).toBeGreaterThan(0)
      expect(ttl).toBeLessThanOrEqual(DEFAULT_LIMITS.finishedTtlMs)
    }
    // A renewed its lease afterwards and is a live node again; its set of runs lists nothing lost.
    const nodeA = meta.node!
    expect(await redis!.zscore(`${prefix}nodes`, nodeA)).not.toBeNull()
    expect(await redis!.sismember(`${prefix}node:${nodeA}:runs`, id)).toBe(0)
  })
})
