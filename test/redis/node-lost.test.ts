/**
 * The running node is killed and no other node has the execution's flow: it is never dropped nor
 * ended. B and C take it from the dead node and leave it unclaimed, reported (`nodeless: true` in
 * the snapshot route, the `flowcast_executions_unclaimable` gauge); subscribers keep what they got
 * and wait. A node that has the flow, started later, claims it and it completes.
 */
import { fileURLToPath } from 'node:url'
import { afterEach, expect, it } from 'vitest'
import { eventually } from '../helpers/poll.ts'
import { until } from '../helpers/wait.ts'
import {
  describeRedis,
  type NodeProcess,
  range,
  spawnNode,
  startExecution,
  stopNode,
  useCluster,
} from './env.ts'
import { watch } from './watch.ts'

const LEASE_MS = 1000
const cluster = useCluster(2, { FLOWCAST_LEASE_MS: String(LEASE_MS) })
const RARE = fileURLToPath(new URL('./flows/rare.ts', import.meta.url))
const extra: NodeProcess[] = []

afterEach(async () => {
  await Promise.all(extra.splice(0).map(stopNode))
})

/** A node that has the `rare` flow (no other node has it). */
async function rareNode(): Promise<NodeProcess> {
  const node = await spawnNode({
    REDIS_URL: process.env.REDIS_URL || 'redis://127.0.0.1:6379',
    FLOWCAST_KEY_PREFIX: cluster.prefix,
    FLOWCAST_API_KEY: cluster.apiKey,
    FLOWCAST_SECRET: cluster.secret,
    FLOWCAST_LEASE_MS: String(LEASE_MS),
    FLOWCAST_EXTRA_FLOWS: RARE,
  })
  extra.push(node)
  return node
}

async function gauge(url: string): Promise<number> {
  const text = await (await fetch(`${url}/metrics`)).text()
  const line = text.split('\n').find((l) => l.startsWith('flowcast_executions_unclaimable '))
  return Number(line?.split(' ')[1] ?? Number.NaN)
}

describeRedis('redis: the running node is killed and no other node has its flow', () => {
  it('the execution stays unclaimed and reported, subscribers keep 1..k and wait; a node with the flow claims and completes it', async () => {
    const [b, c] = cluster.nodes as [NodeProcess, NodeProcess]
    const a = await rareNode()
    const N = 60
    const HOLD = 10
    // Held after HOLD items on A: the kill below never races the flow finishing there.
    const { executionId: id, tokens } = await startExecution(
      a.url,
      'rare',
      { count: N, intervalMs: 20, holdAfter: HOLD },
      cluster.apiKey,
    )
    const viewer = tokens!.viewer
    const onB = [watch(cluster.client([b.url], viewer), id), watch(cluster.client([c.url], viewer), id)]
    await until(
      () => onB.every((w) => w.events.length >= HOLD),
      10_000,
      "the first attempt's items on B and C",
    )
    const meta = `${cluster.prefix}x:${id}:meta`

    a.child.kill('SIGKILL')
    await a.exited
    const killedAt = Date.now()
    await eventually(
      async () => (await cluster.redis.hget(meta, 'node')) === '',
      10 * LEASE_MS,
      'taken from A',
    )
    const parkedAfter = Date.now() - killedAt
    expect(await cluster.redis.sismember(`${cluster.prefix}claimable`, id)).toBe(1)
    await eventually(async () => (await gauge(b.url)) === 1 && (await gauge(c.url)) === 1, 5000, 'the gauge')
    const auth = { authorization: `Bearer ${viewer}` }
    const info = await (await fetch(`${b.url}/api/executions/${id}`, { headers: auth })).json()
    expect(info).toMatchObject({ status: 'running', nodeless: true, streamOpen: true })
    const k = onB[0]!.events.length
    // Nobody ended it: no end, no failed status; the result route says running.
    for (const w of onB) {
      expect(w.end).toBeNull()
      expect(w.statuses).not.toContain('failed')
    }
    const pending = await fetch(`${c.url}/api/executions/${id}/result`, { headers: auth })
    expect({ status: pending.status, body: await pending.json() }).toEqual({
      status: 202,
      body: { status: 'running' },
    })

    // A node that has the flow joins: it claims the execution, the step runs again, it completes.
    const d = await rareNode()
    await until(() => onB.every((w) => w.end !== null), 30_000, 'stream_end on B and C')
    const claimedAfter = Date.now() - killedAt
    for (const w of onB) {
      const lastSeq = w.end!.lastSeq
      expect(w.seqs()).toEqual(range(1, lastSeq))
      expect(w.end!.reason).toBe('completed')
      expect(w.events.filter((e) => e.attempt === 2).map((e) => (e.data as { n: number }).n)).toEqual(
        range(1, N),
      )
    }
    expect(onB[0]!.seqs().length).toBeGreaterThanOrEqual(k + N)
    const done = await (await fetch(`${b.url}/api/executions/${id}/result`, { headers: auth })).json()
    expect(done).toEqual({ status: 'completed', result: { put: N } })
    expect(await cluster.redis.sismember(`${cluster.prefix}claimable`, id)).toBe(0)
    await eventually(async () => (await gauge(b.url)) === 0, 5000, 'the gauge back to 0')
    expect(await gauge(d.url)).toBe(0)
    console.log(
      `[outlive] unclaimable ${id}: kill -> parked ${parkedAfter} ms; kill -> completed on a new node ${claimedAfter} ms`,
    )
  })
})
