/**
 * The writer's batch sender (server/brokers/redis/batch.ts) on a real Redis: a batch sent as one
 * write answers exactly as ioredis's pipeline() does (replies, refusals inside and before EXEC, a
 * WATCH that dropped the EXEC, a connection that is down), keeps its place among other commands
 * on the connection, and a connection it cannot encode for (a keyPrefix) gets pipeline().
 */
import { Redis, type RedisOptions } from 'ioredis'
import { afterEach, expect, it } from 'vitest'
import {
  type BatchCommand,
  type BatchReply,
  batchSender,
  directBatches,
} from '../../server/brokers/redis/batch.ts'
import { waitFor } from '../helpers/wait.ts'
import { describeRedis, dropPrefix, newPrefix, REDIS_URL } from './env.ts'

const redises: Redis[] = []
const prefixes: string[] = []

afterEach(async () => {
  for (const r of redises.splice(0)) r.disconnect()
  for (const p of prefixes.splice(0)) await dropPrefix(REDIS_URL, p)
})

function conn(options: RedisOptions = {}): Redis {
  const r = new Redis(REDIS_URL, { maxRetriesPerRequest: 0, ...options })
  r.on('error', () => undefined)
  redises.push(r)
  return r
}

/** A connection as the broker makes them, connected: no offline queue (server/brokers/redis.ts). */
async function ready(options: RedisOptions = {}): Promise<Redis> {
  const r = conn({ lazyConnect: true, enableOfflineQueue: false, ...options })
  await r.connect()
  return r
}

function prefix(): string {
  const p = newPrefix()
  prefixes.push(p)
  return p
}

/** Replies with each error as its class and message, so two runs compare whole. */
function shape(replies: BatchReply[]): unknown {
  const one = (v: unknown): unknown =>
    v instanceof Error ? { error: v.constructor.name, message: v.message } : Array.isArray(v) ? v.map(one) : v
  return replies.map(([err, value]) => [err && one(err), one(value)])
}

/**
 * Runs the same batch once per sender, each under its own prefix, `before` first (what another
 * client did), and returns both answers with the prefix taken out.
 */
async function both(
  batch: (p: string) => BatchCommand[],
  before?: (p: string, other: Redis, mine: Redis) => Promise<void>,
): Promise<{ direct: unknown; pipeline: unknown }> {
  const other = await ready()
  const out: Record<string, unknown> = {}
  for (const direct of [true, false]) {
    const p = prefix()
    const r = await ready()
    // The comparison means something only if the first run really took the one-write path.
    expect(directBatches(r)).toBe(true)
    await before?.(p, other, r)
    const send = batchSender(r, direct)
    out[direct ? 'direct' : 'pipeline'] = JSON.parse(
      JSON.stringify(shape(await send(batch(p)))).replaceAll(p, 'P:'),
    )
  }
  return out as { direct: unknown; pipeline: unknown }
}

describeRedis('redis: the writer batch sent as one write', () => {
  it('answers like pipeline() for a MULTI with an EXEC-time refusal, then WATCH and GET', async () => {
    const { direct, pipeline } = await both(
      (p) => [
        ['multi'],
        ['xadd', `${p}log`, '1-0', 'e', '{"a":"é"}'],
        ['xadd', `${p}log`, '1-0', 'e', 'again'],
        ['xadd', `${p}log`, '2-0', 'e', ''],
        ['hset', `${p}meta`, 'status', 'running', 'lastSeq', 2],
        ['pexpire', `${p}log`, 60_000],
        ['publish', `${p}ticks`, 'x'],
        ['exec'],
        ['watch', `${p}fence`],
        ['get', `${p}fence`],
      ],
      async (p, other) => {
        await other.set(`${p}fence`, '7')
      },
    )
    expect(direct).toEqual(pipeline)
    // What the writer reads from them: EXEC's results with the refusal in place, the fence's value.
    const replies = direct as [unknown, unknown][]
    expect(replies[7]![0]).toBeNull()
    expect((replies[7]![1] as unknown[])[1]).toMatchObject({
      message: expect.stringContaining('equal or smaller'),
    })
    expect(replies.at(-1)).toEqual([null, '7'])
  })

  it('answers like pipeline() when a command is refused as queued (EXECABORT)', async () => {
    const { direct, pipeline } = await both((p) => [
      ['multi'],
      ['xadd', `${p}log`, '1-0', 'e', 'x'],
      ['xadd', `${p}log`],
      ['exec'],
      ['watch', `${p}fence`],
      ['get', `${p}fence`],
    ])
    expect(direct).toEqual(pipeline)
    expect((direct as [unknown, unknown][])[3]![0]).toMatchObject({
      message: expect.stringContaining('EXECABORT'),
    })
  })

  it('answers like pipeline() when the WATCHed key moved and Redis dropped the EXEC', async () => {
    const { direct, pipeline } = await both(
      (p) => [['multi'], ['xadd', `${p}log`, '1-0', 'e', 'x'], ['exec'], ['exists', `${p}log`]],
      async (p, other, mine) => {
        await mine.watch(`${p}fence`)
        await other.incr(`${p}fence`)
      },
    )
    expect(direct).toEqual(pipeline)
    expect((direct as [unknown, unknown][])[2]).toEqual([null, null])
    expect((direct as [unknown, unknown][])[3]).toEqual([null, 0])
  })

  it('answers every command with an error, like pipeline(), while the connection is down', async () => {
    const out: unknown[] = []
    for (const direct of [true, false]) {
      const r = conn({ lazyConnect: true, enableOfflineQueue: false })
      const send = batchSender(r, direct)
      const replies = await waitFor(send([['multi'], ['get', 'x'], ['exec']]), 5000, 'the refused batch')
      expect(replies.every(([err]) => err instanceof Error)).toBe(true)
      out.push(shape(replies))
    }
    expect(out[0]).toEqual(out[1])
  })

  it('keeps its replies apart from commands sent before and after it on the connection', async () => {
    const p = prefix()
    const r = await ready()
    await r.mset(`${p}a`, 'A', `${p}b`, 'B')
    const send = batchSender(r)
    const first = r.get(`${p}a`)
    const batch = send([['multi'], ['incr', `${p}n`], ['exec'], ['get', `${p}n`]])
    const after = r.get(`${p}b`)
    expect(await first).toBe('A')
    expect(await batch).toEqual([
      [null, 'OK'],
      [null, 'QUEUED'],
      [null, [1]],
      [null, '1'],
    ])
    expect(await after).toBe('B')
  })

  it('sends through pipeline() on a connection with an offline queue, whose queued commands it would never write', async () => {
    const queued = conn({ enableOfflineQueue: true, lazyConnect: true })
    expect(directBatches(queued)).toBe(false)
    const k = `${prefix()}k`
    // Sent before the connection is ready: ioredis holds the commands and writes them once it is.
    const connecting = queued.connect()
    const replies = batchSender(queued)([['multi'], ['set', k, 'v'], ['exec'], ['get', k]])
    await connecting
    expect(shape(await replies)).toEqual([
      [null, 'OK'],
      [null, 'QUEUED'],
      [null, ['OK']],
      [null, 'v'],
    ])
  })

  it('sends through pipeline() on a connection with a keyPrefix, which it could not encode for', async () => {
    const p = prefix()
    const plain = await ready()
    const prefixed = await ready({ keyPrefix: p })
    expect(directBatches(plain)).toBe(true)
    expect(directBatches(prefixed)).toBe(false)
    const replies = await batchSender(prefixed)([['multi'], ['set', 'k', 'v'], ['exec'], ['get', 'k']])
    expect(replies.at(-1)).toEqual([null, 'v'])
    // ioredis put the prefix on the key: the batch went through its own commands.
    expect(await plain.get(`${p}k`)).toBe('v')
    expect(await plain.exists('k')).toBe(0)
  })
})
