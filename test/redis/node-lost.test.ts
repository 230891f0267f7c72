/**
 * kill -9 of the node that runs an execution: its lease passes, another node ends the execution
 * once as failed `node_lost` (status and stream close appended to its stream), so subscribers on
 * the other nodes get every event written before the kill, then `status failed` and
 * `stream_end {reason: 'failed'}`; the result route answers failed with node_lost, and the keys
 * expire like those of any finished execution.
 */
import { Redis } from 'ioredis'
import { afterEach, beforeEach, expect, it } from 'vitest'
import type { FlowcastClient } from '../../client-sdk/index.ts'
import { DEFAULT_LIMITS } from '../../server/options.ts'
import { until } from '../helpers/wait.ts'
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
const LEASE_MS = 1000
let prefix = ''
let nodes: NodeProcess[] = []
const clients: FlowcastClient[] = []
let redis: Redis | undefined

beforeEach(async () => {
  prefix = newPrefix()
  nodes = await spawnNodes(3, {
    REDIS_URL,
    FLOWCAST_KEY_PREFIX: prefix,
    FLOWCAST_API_KEY: API_KEY,
    FLOWCAST_SECRET: SECRET,
    FLOWCAST_LEASE_MS: String(LEASE_MS),
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

describeRedis('redis: the running node is killed', () => {
  it('subscribers on B and C get the events up to the kill, then status failed and stream_end failed, once; the result is node_lost; the keys expire', async () => {
    const [a, b, c] = nodes as [NodeProcess, NodeProcess, NodeProcess]
    const N = 5000
    const { executionId: id, tokens } = await startExecution(
      a.url,
      'long-job',
      { count: N, size: 32, intervalMs: 4 },
      API_KEY,
    )
    const viewer = (url: string) => {
      const client = sdkClient([url], { token: tokens!.viewer })
      clients.push(client)
      return client
    }
    // Two nodes follow it, so two sweepers race to end it: it must still end once.
    const onB = [watch(viewer(b.url), id), watch(viewer(b.url), id), watch(viewer(c.url), id)]
    // A result wait on B that starts before the kill and must end with it.
    const waiting = fetch(`${b.url}/api/executions/${id}/result?wait=30000`, {
      headers: { authorization: `Bearer ${tokens!.viewer}` },
    }).then(async (r) => ({ status: r.status, body: await r.json() }))
    await until(() => onB.every((w) => w.events.length >= 40), 10_000, 'first events on B and C')
    const node = await redis!.hget(`${prefix}x:${id}:meta`, 'node')
    expect(await redis!.sismember(`${prefix}node:${node}:runs`, id)).toBe(1)

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
    for (const key of [`${prefix}x:${id}:meta`, `${prefix}x:${id}:log`]) {
      const ttl = await redis!.pttl(key)
      expect(ttl).toBeGreaterThan(0)
      expect(ttl).toBeLessThanOrEqual(DEFAULT_LIMITS.finishedTtlMs)
    }
    expect(await redis!.exists(`${prefix}node:${node}:runs`)).toBe(0)
    expect(await redis!.zscore(`${prefix}nodes`, node!)).toBeNull()
    // Ended once, though B and C both swept: exactly one failed status and one close in the stream.
    const markers = (await redis!.xrevrange(`${prefix}x:${id}:log`, '+', '-', 'COUNT', 5)).filter(
      ([, f]) => f[0] !== 'e',
    )
    expect(markers.map(([, f]) => f)).toEqual([
      ['c', JSON.stringify({ reason: 'failed', lastSeq })],
      ['s', 'failed'],
    ])
  })
})
