/**
 * Issue 18's writer on a real Redis: a running node writes each tick as one MULTI/EXEC of plain
 * commands under a WATCH of its fence counter, with no Lua script per execution per tick (the
 * former fenced script cost Redis ~54 µs per event), and what it wrote is the exact log.
 */
import { Redis } from 'ioredis'
import { afterEach, expect, it } from 'vitest'
import { catalogFlows } from '../../flows/catalog/index.ts'
import { DEFAULT_LIMITS, type FlowcastServer, RedisBroker, startServer } from '../../server/index.ts'
import { eventually } from '../helpers/poll.ts'
import { until } from '../helpers/wait.ts'
import { describeRedis, dropPrefix, newPrefix, REDIS_URL, range, startOn } from './env.ts'
import { type MonitoredCommand, monitorRedis, type RedisMonitor } from './monitor.ts'

const servers: FlowcastServer[] = []
const brokers: RedisBroker[] = []
const redises: Redis[] = []
const monitors: RedisMonitor[] = []
const prefixes: string[] = []

afterEach(async () => {
  for (const s of servers.splice(0)) await s.close()
  for (const b of brokers.splice(0)) await b.close()
  for (const r of redises.splice(0)) r.disconnect()
  for (const m of monitors.splice(0)) m.close()
  for (const p of prefixes.splice(0)) await dropPrefix(REDIS_URL, p)
})

/** A node with the Redis broker under a fresh prefix, its server, and a Redis connection of the test's. */
async function writerNode(options: { quiet?: boolean; resumes?: boolean } = {}) {
  const prefix = newPrefix()
  prefixes.push(prefix)
  const broker = await RedisBroker.connect({
    url: REDIS_URL,
    keyPrefix: prefix,
    finishedTtlMs: DEFAULT_LIMITS.finishedTtlMs,
    ...(options.quiet ? { onError: () => undefined } : {}),
    ...(options.resumes ? { flows: catalogFlows() } : {}),
  })
  brokers.push(broker)
  const a = await startServer({ port: 0, auth: 'off', broker })
  servers.push(a)
  const admin = new Redis(REDIS_URL, { maxRetriesPerRequest: 0 })
  redises.push(admin)
  return { broker, a, admin }
}

/** The addresses of a node's connections, by the names the broker gives them. */
async function addressesOf(admin: Redis, nodeId: string): Promise<Map<string, string>> {
  const text = (await admin.call('CLIENT', 'LIST')) as string
  const out = new Map<string, string>()
  for (const line of text.split('\n')) {
    const name = /\bname=(\S+)/.exec(line)?.[1]
    const addr = /\baddr=(\S+)/.exec(line)?.[1]
    if (name?.startsWith(`flowcast:${nodeId}:`) && addr) out.set(addr, name.split(':').at(-1)!)
  }
  return out
}

describeRedis('redis: the writer', () => {
  it('writes each tick as one WATCHed MULTI/EXEC with no script per execution per tick', async () => {
    const { broker, a, admin } = await writerNode()
    const seen: MonitoredCommand[] = []
    monitors.push(await monitorRedis(REDIS_URL, (command) => seen.push(command)))
    const conns = await addressesOf(admin, broker.nodeId)

    // Nobody watches it on another node; each event lands in a tick of its own (2 ms apart).
    const N = 150
    const t0 = Date.now()
    const id = await startOn(a.url, 'long-job', { count: N, size: 32, intervalMs: 2 })
    await eventually(
      async () => (await admin.hget(broker.keys.meta(id), 'status')) === 'completed',
      30_000,
      'the execution completed in Redis',
    )
    // MONITOR lags: wait until it showed the final write (the TTL on the log).
    const log = broker.keys.log(id)
    await until(
      () => seen.some((c) => c.args[0]!.toLowerCase() === 'pexpire' && c.args[1] === log),
      10_000,
      'MONITOR to show the final write',
    )
    const ofNode = seen.filter((c) => conns.has(c.source))
    const named = (cmd: string, conn?: string) =>
      ofNode.filter(
        (c) => c.args[0]!.toLowerCase() === cmd && (conn === undefined || conns.get(c.source) === conn),
      )
    // Scripts: the lease renewal only (every 5 s with the default lease), none from the writer.
    expect(named('evalsha')).toEqual([])
    expect(named('eval', 'write')).toEqual([])
    const renewals = 1 + Math.ceil((Date.now() - t0) / (DEFAULT_LIMITS.nodeLeaseMs / 3))
    expect(named('eval').length).toBeLessThanOrEqual(renewals)
    expect([...conns.values()].sort()).toEqual(['cmd', 'read', 'sub', 'write'])
    // Every event was written once, by the writer, inside a MULTI/EXEC under the fence's WATCH.
    const xadds = named('xadd', 'write').filter((c) => c.args[1] === log && c.args[3] === 'e')
    expect(xadds.map((c) => c.args[2])).toEqual(range(1, N).map((s) => `${s}-0`))
    const execs = named('exec', 'write').length
    expect(execs).toBeGreaterThan(1)
    expect(named('multi', 'write').length).toBe(execs)
    expect(named('watch', 'write').every((c) => c.args[1] === broker.keys.fence(broker.nodeId))).toBe(true)
    expect(named('watch', 'write').length).toBeGreaterThanOrEqual(execs)

    const entries = await admin.xrange(log, '-', '+')
    expect(entries.filter(([, f]) => f[0] === 'e').map(([entryId]) => entryId)).toEqual(
      range(1, N).map((s) => `${s}-0`),
    )
    // lastSeq alone is no HSET: the hash is written when something else changes (start, end).
    const hsets = named('hset', 'write').filter((c) => c.args[1] === broker.keys.meta(id))
    expect(hsets.length).toBeGreaterThan(0)
    expect(hsets.length).toBeLessThan(10)
    const meta = await admin.hgetall(broker.keys.meta(id))
    expect(meta).toMatchObject({ status: 'completed', lastSeq: String(N), node: broker.nodeId })
    expect(await admin.sismember(broker.keys.runs(broker.nodeId), id)).toBe(0)
    expect(await admin.pttl(log)).toBeGreaterThan(0)
  })
  it('a bump of the fence (what a sweep does) drops the batch in flight: nothing is appended after it', async () => {
    const { broker, a, admin } = await writerNode({ quiet: true })
    const id = await startOn(a.url, 'long-job', { count: 100_000, size: 32, intervalMs: 1 })
    const log = broker.keys.log(id)
    await eventually(async () => (await admin.xlen(log)) > 20, 10_000, 'the first events in Redis')

    // As the sweep does: take the execution from the node (claim.ts) and bump its fence,
    // atomically, and read the stream's top in the same transaction.
    const replies = (await admin
      .multi()
      .hset(broker.keys.meta(id), 'node', '')
      .incr(broker.keys.fence(broker.nodeId))
      .xrevrange(log, '+', '-', 'COUNT', 1)
      .exec())!
    const topAtBump = (replies[2]![1] as [string, string[]][])[0]![0]

    // The node notices, stops its copy and answers from Redis from then on (nobody holds it).
    await eventually(
      async () => {
        const res = await fetch(`${a.url}/api/executions/${id}`)
        return ((await res.json()) as { nodeless?: boolean }).nodeless === true
      },
      10_000,
      'the node to answer from Redis that no node holds it',
    )
    // A later execution is written through the re-armed fence: a barrier for the writer.
    const later = await startOn(a.url, 'long-job', { count: 3, size: 16, intervalMs: 0 })
    await eventually(
      async () => (await admin.hget(broker.keys.meta(later), 'status')) === 'completed',
      10_000,
      'a later execution written',
    )
    const top = (await admin.xrevrange(log, '+', '-', 'COUNT', 1))[0]![0]
    expect(top).toBe(topAtBump)
    expect(await admin.hget(broker.keys.meta(id), 'node')).toBe('')
  })
  it('a command answered just after a fence bump (a sweep took another execution) is in Redis when answered', async () => {
    const { broker, a, admin } = await writerNode({ quiet: true })
    // Waiting for its approval: nothing of its own is written until the command.
    const id = await startOn(a.url, 'approval', { request: 'fence' })
    const meta = broker.keys.meta(id)
    await eventually(async () => (await admin.hget(meta, 'status')) === 'waiting', 10_000, 'waiting in Redis')

    // The bump a sweep makes when it takes some other execution of this node: the node's next
    // EXEC is dropped whole, though this execution is still its own.
    await admin.incr(broker.keys.fence(broker.nodeId))
    // stop_stream flushes at once (no turn of the loop first): that very batch is the dropped one.
    expect(await broker.command(id, { type: 'stop_stream', by: 'test' })).toEqual({ stopped: true })
    // Read at once, before any later batch of the node could land.
    const [close, log] = await Promise.all([
      admin.hget(meta, 'close'),
      admin.xrange(broker.keys.log(id), '-', '+'),
    ])
    expect(close).not.toBeNull()
    expect(log.some(([, f]) => f[0] === 'c')).toBe(true)
    expect(await admin.hget(meta, 'node')).toBe(broker.nodeId)
  })

  it('an answer that meets a fence (the sweep took the execution) goes to where it is now, not into the fenced copy', async () => {
    const { broker, a, admin } = await writerNode({ quiet: true, resumes: true })
    const id = await startOn(a.url, 'approval', { request: 'moved' })
    const meta = broker.keys.meta(id)
    await eventually(async () => (await admin.hget(meta, 'status')) === 'waiting', 10_000, 'waiting in Redis')
    const info = (await (await fetch(`${a.url}/api/executions/${id}`)).json()) as {
      pendingInterrupts: { id: string }[]
    }
    const interruptId = info.pendingInterrupts[0]!.id

    // What the sweep does to a waiting execution of a node whose lease passed (claim.ts PARK): no
    // holder, and the node's fence bumped. The node itself has written nothing since, so it still
    // believes it holds the execution when the answer arrives.
    await admin.hset(meta, 'node', '')
    await admin.incr(broker.keys.fence(broker.nodeId))
    expect(await broker.command(id, { type: 'continue', interruptId, value: { approved: true } })).toEqual({
      continued: true,
    })
    // Answered: the answer is the execution's, wherever it lives now.
    const result = await fetch(`${a.url}/api/executions/${id}/result?wait=10000`)
    expect(await result.json()).toMatchObject({ status: 'completed', result: { approved: true } })
    expect(await admin.hget(meta, 'status')).toBe('completed')
  })
})
