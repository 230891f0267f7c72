/** Two in-process nodes on one Redis: a late subscriber on the other node gets the retained history, gaps exactly. */
import { afterEach, expect, it } from 'vitest'
import type { FlowcastClient } from '../../client-sdk/index.ts'
import { type FlowcastServer, startServer } from '../../server/index.ts'
import { until } from '../helpers/wait.ts'
import {
  describeRedis,
  dropPrefix,
  keysUnder,
  newPrefix,
  REDIS_URL,
  range,
  sdkClient,
  startOn,
} from './env.ts'
import { watch } from './watch.ts'

const servers: FlowcastServer[] = []
const clients: FlowcastClient[] = []
const prefixes: string[] = []

afterEach(async () => {
  for (const c of clients.splice(0)) c.close()
  for (const s of servers.splice(0)) await s.close()
  for (const p of prefixes.splice(0)) await dropPrefix(REDIS_URL, p)
})

async function node(prefix: string, limits?: Record<string, number>): Promise<FlowcastServer> {
  const s = await startServer({
    port: 0,
    auth: 'off',
    redisUrl: REDIS_URL,
    keyPrefix: prefix,
    ...(limits ? { limits } : {}),
  })
  servers.push(s)
  return s
}

describeRedis('redis: late subscriber on another node', () => {
  it('gets the full retained history, then stream_end, identical to a subscriber on the running node', async () => {
    const prefix = newPrefix()
    prefixes.push(prefix)
    const a = await node(prefix)
    const b = await node(prefix)
    const id = await startOn(a.url, 'long-job', { count: 500, size: 64, intervalMs: 0 })
    const done = await fetch(`${b.url}/api/executions/${id}/result?wait=20000`)
    expect(await done.json()).toEqual({ status: 'completed', result: { put: 500, accepted: 500 } })

    const onB = watch(clients[clients.push(sdkClient([b.url])) - 1]!, id)
    const onA = watch(clients[clients.push(sdkClient([a.url])) - 1]!, id)
    await until(() => onB.end !== null && onA.end !== null, 10_000, 'both ends')
    expect(onB.seqs()).toEqual(range(1, 500))
    expect(onB.gaps).toEqual([])
    expect(onB.end).toEqual({ reason: 'completed', lastSeq: 500 })
    expect(onB.errors).toEqual([])
    expect(JSON.stringify(onB.events)).toBe(JSON.stringify(onA.events))

    // The key layout: one stream and one hash per execution, the nodes' leases, under the prefix
    // (a node's set of runs is empty, hence absent, once its executions have finished).
    expect(await keysUnder(REDIS_URL, prefix)).toEqual(
      [`${prefix}x:${id}:log`, `${prefix}x:${id}:meta`, `${prefix}nodes`].sort(),
    )
  })

  it('behind retention: the same exact gap on both nodes, over the socket and the history route', async () => {
    const prefix = newPrefix()
    prefixes.push(prefix)
    const a = await node(prefix, { retainedEvents: 100 })
    const b = await node(prefix, { retainedEvents: 100 })
    const id = await startOn(a.url, 'long-job', { count: 350, size: 32, intervalMs: 0 })
    await fetch(`${b.url}/api/executions/${id}/result?wait=20000`)

    const onB = watch(clients[clients.push(sdkClient([b.url])) - 1]!, id)
    const onA = watch(clients[clients.push(sdkClient([a.url])) - 1]!, id)
    await until(() => onB.end !== null && onA.end !== null, 10_000, 'both ends')
    for (const w of [onA, onB]) {
      expect(w.gaps).toEqual([{ from: 1, to: 250 }])
      expect(w.seqs()).toEqual(range(251, 350))
      expect(w.end).toEqual({ reason: 'completed', lastSeq: 350 })
    }
    for (const url of [a.url, b.url]) {
      const page = (await (await fetch(`${url}/api/executions/${id}/events?since=10&limit=5`)).json()) as any
      expect(page.gap).toEqual({ from: 11, to: 250 })
      expect(page.items.map((e: { seq: number }) => e.seq)).toEqual(range(251, 255))
      const info = (await (await fetch(`${url}/api/executions/${id}`)).json()) as any
      expect(info).toMatchObject({ status: 'completed', lastSeq: 350, firstSeq: 251, streamOpen: false })
    }
  })
})
