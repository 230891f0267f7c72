/**
 * Checkpoints in Redis (issue 16): the running node writes each execution's snapshot into its
 * hash at step boundaries and when it pauses; a checkpoint over `checkpointMaxBytes` fails the
 * execution with `checkpoint_too_large` (the node carries on); a checkpoint that cannot be
 * restored fails the execution with `invalid_snapshot` once, never a loop of claims.
 */

import { Redis } from 'ioredis'
import { afterEach, expect, it } from 'vitest'
import { z } from 'zod'
import { TriggerFlow } from '../../flows/index.ts'
import { Claims } from '../../server/brokers/redis/claim.ts'
import { RedisKeys } from '../../server/brokers/redis/keys.ts'
import { type FlowcastServer, startServer } from '../../server/index.ts'
import { eventually } from '../helpers/poll.ts'
import { describeRedis, dropPrefix, newPrefix, REDIS_URL, startOn } from './env.ts'

const servers: FlowcastServer[] = []
const prefixes: string[] = []
let redis: Redis | undefined

afterEach(async () => {
  for (const s of servers.splice(0)) await s.close()
  for (const p of prefixes.splice(0)) await dropPrefix(REDIS_URL, p)
  redis?.disconnect()
  redis = undefined
})

/** Puts an item, stores `size` characters in the state, then waits for an answer. */
function heavyFlow() {
  const flow = new TriggerFlow({
    name: 'heavy',
    contract: { input: z.object({ size: z.number().int().min(0) }) },
  })
  const grow = flow.chunk('grow', async (data) => {
    await data.putIntoStream({ step: 'grow' })
    data.state.set('blob', 'x'.repeat(data.input.size))
    return data.pauseFor({ type: 'go' })
  })
  const finish = flow.chunk('finish', async () => 'done')
  flow.to(grow).to(finish).end()
  return flow
}

async function node(prefix: string, limits: Record<string, number> = {}): Promise<FlowcastServer> {
  const s = await startServer({
    port: 0,
    auth: 'off',
    redisUrl: REDIS_URL,
    keyPrefix: prefix,
    limits: { nodeLeaseMs: 600, ...limits },
    flows: [heavyFlow()],
  })
  servers.push(s)
  return s
}

async function result(url: string, id: string): Promise<any> {
  return (await fetch(`${url}/api/executions/${id}/result?wait=10000`)).json()
}

describeRedis('redis: checkpoints', () => {
  it("the hash holds the execution's snapshot once it pauses, with the waiting interrupt; gone once it ends", async () => {
    const prefix = newPrefix()
    prefixes.push(prefix)
    redis = new Redis(REDIS_URL)
    const a = await node(prefix)
    const id = await startOn(a.url, 'heavy', { size: 10 })
    const meta = `${prefix}x:${id}:meta`
    await eventually(async () => (await redis!.hget(meta, 'status')) === 'waiting', 5000, 'waiting')
    await eventually(
      async () => JSON.parse((await redis!.hget(meta, 'checkpoint')) ?? '{}').status === 'waiting',
      5000,
      'a checkpoint of the pause',
    )
    const snap = JSON.parse((await redis.hget(meta, 'checkpoint'))!)
    expect(snap).toMatchObject({
      kind: 'flowcast.execution',
      flow: 'heavy',
      executionId: id,
      status: 'waiting',
      state: { blob: 'x'.repeat(10) },
      stream: { lastSeq: 2 },
    })
    expect(snap.interrupts).toHaveLength(1)
    expect(snap.interrupts[0].info).toMatchObject({ type: 'go', status: 'waiting' })
    const interruptId = snap.interrupts[0].info.id as string
    await fetch(`${a.url}/api/executions/${id}/interrupts/${interruptId}/continue`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: '{"value":1}',
    })
    expect(await result(a.url, id)).toEqual({ status: 'completed', result: 'done' })
    await eventually(
      async () => (await redis!.hexists(meta, 'checkpoint')) === 0,
      5000,
      'the checkpoint dropped',
    )
  })

  it('a checkpoint over checkpointMaxBytes fails the execution with checkpoint_too_large; the node carries on', async () => {
    const prefix = newPrefix()
    prefixes.push(prefix)
    const a = await node(prefix, { checkpointMaxBytes: 4096 })
    const big = await startOn(a.url, 'heavy', { size: 8000 })
    const outcome = await result(a.url, big)
    expect(outcome.status).toBe('failed')
    expect(outcome.error.code).toBe('checkpoint_too_large')
    expect(outcome.error.message).toMatch(/over the 4096 byte limit \(checkpointMaxBytes\)/)
    // A small one on the same node pauses as usual.
    const small = await startOn(a.url, 'heavy', { size: 10 })
    await eventually(
      async () => (await (await fetch(`${a.url}/api/executions/${small}`)).json()).status === 'waiting',
      5000,
      'the small one waiting',
    )
  })

  it('a checkpoint that cannot be restored fails the execution with invalid_snapshot, once, without a claim loop', async () => {
    const prefix = newPrefix()
    prefixes.push(prefix)
    redis = new Redis(REDIS_URL)
    // Two executions no node holds: one whose checkpoint names a step the flow lacks, one without JSON.
    const bad = {
      version: 1,
      kind: 'flowcast.execution',
      flow: 'heavy',
      executionId: 'stale-1',
      status: 'running',
      lifecycle: 'open',
      savedAt: 0,
      createdAt: 0,
      input: { size: 1 },
      state: {},
      interrupts: [],
      running: [
        {
          nodeId: 'a-step-since-removed',
          value: null,
          frame: { scope: 'r' },
          trigger: { event: 'START', type: 'start' },
          attempt: 1,
        },
      ],
      invocations: [],
      joins: [],
      collections: [],
      subFlows: [],
      stream: { lastSeq: 0 },
      bindings: [],
      counter: 0,
    }
    const fields = (checkpoint: string) => ({
      flow: 'heavy',
      node: '',
      status: 'running',
      createdAt: '0',
      lastSeq: '0',
      firstSeq: '1',
      interrupts: '[]',
      maxEvents: '100',
      maxBytes: '100000',
      checkpoint,
    })
    await redis.hset(`${prefix}x:stale-1:meta`, fields(JSON.stringify(bad)))
    await redis.hset(`${prefix}x:stale-2:meta`, fields('{not json'))
    await redis.sadd(`${prefix}claimable`, 'stale-1', 'stale-2')
    const a = await node(prefix)
    for (const id of ['stale-1', 'stale-2']) {
      const outcome = await result(a.url, id)
      expect(outcome.status).toBe('failed')
      expect(outcome.error.code).toBe('invalid_snapshot')
    }
    expect((await result(a.url, 'stale-1')).error.message).toMatch(/a-step-since-removed/)
    expect(await redis.scard(`${prefix}claimable`)).toBe(0)
    // Failed once: one status and one close marker each, finished keys with a TTL.
    for (const id of ['stale-1', 'stale-2']) {
      const log = await redis.xrange(`${prefix}x:${id}:log`, '-', '+')
      expect(log.map(([, f]) => f[0])).toEqual(['s', 'c'])
      expect(await redis.pttl(`${prefix}x:${id}:meta`)).toBeGreaterThan(0)
    }
  })

  it('two nodes taking the same 50 claimable executions at once: each is taken by exactly one', async () => {
    const prefix = newPrefix()
    prefixes.push(prefix)
    redis = new Redis(REDIS_URL)
    const keys = new RedisKeys(prefix)
    const ids = Array.from({ length: 50 }, (_, i) => `race-${i}`)
    for (const id of ids)
      await redis.hset(keys.meta(id), { flow: 'heavy', node: '', status: 'running', checkpoint: '{}' })
    await redis.sadd(keys.claimable(), ...ids)
    const conns = [new Redis(REDIS_URL), new Redis(REDIS_URL)]
    try {
      const [x, y] = [new Claims(conns[0]!, keys, 'node-x'), new Claims(conns[1]!, keys, 'node-y')]
      // Interleaved on two connections: both send every take before either reply comes back.
      const won = await Promise.all(
        ids.flatMap((id) => [
          x.take(id, 'running').then((t) => (t ? 'x' : '')),
          y.take(id, 'running').then((t) => (t ? 'y' : '')),
        ]),
      )
      for (let i = 0; i < ids.length; i++) {
        const winners = [won[2 * i], won[2 * i + 1]].filter(Boolean)
        expect(winners).toHaveLength(1)
        expect(await redis.hget(keys.meta(ids[i]!), 'node')).toBe(`node-${winners[0]}`)
      }
      expect(await redis.scard(keys.claimable())).toBe(0)
      expect((await redis.scard(keys.runs('node-x'))) + (await redis.scard(keys.runs('node-y')))).toBe(50)
    } finally {
      for (const c of conns) c.disconnect()
    }
  })
})
