/**
 * Issue 14 (6): what a follower node pulls from Redis. Node B's Redis connections go through a
 * TCP proxy that counts the bytes Redis sends it. A viewer subscribing and unsubscribing in a
 * loop used to make B re-read the whole retained log per room opening (50 pairs of a 1 MiB log:
 * ~50 MiB); now the log is read once and each reopening reads only what came meanwhile. A
 * subscriber whose `since` is near the end pulls the tail only, and a later one from 0 still
 * gets every event.
 */
import { afterEach, expect, it } from 'vitest'
import { DEFAULT_LIMITS, type FlowcastServer, RedisBroker, startServer } from '../../server/index.ts'
import { eventually } from '../helpers/poll.ts'
import { createProxy, type TcpProxy } from '../helpers/tcp-proxy.ts'
import { TestSocket } from '../helpers/ws-client.ts'
import { describeRedis, dropPrefix, newPrefix, REDIS_URL, range, startOn } from './env.ts'

const servers: FlowcastServer[] = []
const brokers: RedisBroker[] = []
const sockets: TestSocket[] = []
const proxies: TcpProxy[] = []
const prefixes: string[] = []

afterEach(async () => {
  await Promise.all(sockets.splice(0).map((s) => s.close()))
  for (const s of servers.splice(0)) await s.close()
  for (const b of brokers.splice(0)) await b.close()
  for (const p of proxies.splice(0)) await p.close()
  for (const p of prefixes.splice(0)) await dropPrefix(REDIS_URL, p)
})

/** Items of ~SIZE bytes: COUNT of them retain about 1 MiB. */
const COUNT = 256
const SIZE = 4096
const RETAINED = COUNT * SIZE

/** Node A runs executions on the shared Redis; node B reaches Redis only through a counting proxy. */
async function twoNodes(
  linger: { lingerMs?: number; lingerBytes?: number } = {},
): Promise<{ a: FlowcastServer; b: FlowcastServer; proxy: TcpProxy }> {
  const prefix = newPrefix()
  prefixes.push(prefix)
  const a = await startServer({ port: 0, auth: 'off', redisUrl: REDIS_URL, keyPrefix: prefix })
  servers.push(a)
  const target = new URL(REDIS_URL)
  const proxy = await createProxy(Number(target.port || 6379), target.hostname)
  proxies.push(proxy)
  const broker = await RedisBroker.connect({
    url: `redis://127.0.0.1:${proxy.port}${target.pathname}`,
    keyPrefix: prefix,
    finishedTtlMs: DEFAULT_LIMITS.finishedTtlMs,
    ...linger,
  })
  brokers.push(broker)
  // The viewer's loop sends more frames than the default per-socket rate allows.
  const b = await startServer({ port: 0, auth: 'off', broker, limits: { commandsPerSecond: 10_000 } })
  servers.push(b)
  return { a, b, proxy }
}

/** Starts a long-job of COUNT items on `a` and waits until Redis holds all of it (B's snapshot says so). */
async function finishedJob(a: FlowcastServer, b: FlowcastServer): Promise<string> {
  const id = await startOn(a.url, 'long-job', { count: COUNT, size: SIZE, intervalMs: 0 })
  const res = await fetch(`${a.url}/api/executions/${id}/result?wait=30000`)
  expect(((await res.json()) as { status: string }).status).toBe('completed')
  await eventually(
    async () => {
      const r = await fetch(`${b.url}/api/executions/${id}`)
      return r.ok && ((await r.json()) as { lastSeq: number }).lastSeq === COUNT
    },
    10_000,
    'the whole log in Redis',
  )
  return id
}

describeRedis('redis: what a follower node reads', () => {
  it('50 subscribe/unsubscribe pairs of a 1 MiB retained log pull about one copy of it, not 50', async () => {
    const { a, b, proxy } = await twoNodes()
    const id = await finishedJob(a, b)
    const s = await TestSocket.open(b.url)
    sockets.push(s)
    const before = proxy.bytesToClients
    for (let i = 0; i < 50; i++) {
      s.frames.length = 0
      await s.subscribe(id, 0)
      await s.until(() => s.seqs(id).length >= COUNT, 10_000, `pair ${i}: all ${COUNT} events`)
      expect(s.seqs(id)).toEqual(range(1, COUNT))
      expect(await s.request({ type: 'unsubscribe', executionId: id })).toMatchObject({ type: 'ack' })
    }
    const pulled = proxy.bytesToClients - before
    console.log(`[follower-reads] 50 pairs of a ${RETAINED} B log: B pulled ${pulled} B from Redis`)
    // One copy of the log plus small reads per reopening; re-reading it per room is 50 copies.
    expect(pulled).toBeLessThan(3 * RETAINED)
  })

  it('with followerLingerMs 0 (or a log over followerLingerBytes) each opening reads the log again', async () => {
    for (const linger of [{ lingerMs: 0 }, { lingerBytes: RETAINED / 2 }]) {
      const { a, b, proxy } = await twoNodes(linger)
      const id = await finishedJob(a, b)
      const s = await TestSocket.open(b.url)
      sockets.push(s)
      const before = proxy.bytesToClients
      for (let i = 0; i < 3; i++) {
        s.frames.length = 0
        await s.subscribe(id, 0)
        await s.until(() => s.seqs(id).length >= COUNT, 10_000, `pair ${i}: all ${COUNT} events`)
        expect(await s.request({ type: 'unsubscribe', executionId: id })).toMatchObject({ type: 'ack' })
      }
      expect(proxy.bytesToClients - before).toBeGreaterThan(3 * RETAINED)
    }
  })

  it('a subscriber near the end pulls only the tail; a later one from 0 gets every event once', async () => {
    const { a, b, proxy } = await twoNodes()
    const id = await finishedJob(a, b)
    const tail = await TestSocket.open(b.url)
    sockets.push(tail)
    const before = proxy.bytesToClients
    await tail.subscribe(id, COUNT - 5)
    await tail.until(() => tail.seqs(id).length >= 5, 10_000, 'the last 5 events')
    await tail.streamEnd(id)
    const pulled = proxy.bytesToClients - before
    console.log(`[follower-reads] since ${COUNT - 5} of ${COUNT}: B pulled ${pulled} B`)
    expect(tail.seqs(id)).toEqual(range(COUNT - 4, COUNT))
    expect(pulled).toBeLessThan(20 * SIZE)

    // Same room, an older `since`: the copy is extended backwards, nothing skipped or doubled.
    const full = await TestSocket.open(b.url)
    sockets.push(full)
    await full.subscribe(id, 0)
    await full.until(() => full.seqs(id).length >= COUNT, 10_000, 'every event from 0')
    await full.streamEnd(id)
    expect(full.seqs(id)).toEqual(range(1, COUNT))
    expect(full.frames.some((f) => f.type === 'gap')).toBe(false)
  })

  it('reopening a running execution goes on exactly where Redis is, each time', async () => {
    const { a, b } = await twoNodes()
    const id = await startOn(a.url, 'long-job', { count: 100_000, size: 64, intervalMs: 10 })
    const s = await TestSocket.open(b.url)
    sockets.push(s)
    let since = 0
    for (let i = 0; i < 8; i++) {
      s.frames.length = 0
      // Alternately from the start and from the last seq seen.
      const from = i % 2 === 0 ? 0 : since
      await s.subscribe(id, from)
      await s.until(() => s.seqs(id).length >= 5 && s.seqs(id).at(-1)! > since + 3, 10_000, `pair ${i}`)
      const seqs = s.seqs(id)
      expect(seqs).toEqual(range(from + 1, seqs.at(-1)!))
      since = seqs.at(-1)!
      expect(await s.request({ type: 'unsubscribe', executionId: id })).toMatchObject({ type: 'ack' })
      // Events go on while nobody watches on B; B's answer, from Redis, moves on with the log's
      // top (the hash's lastSeq is not written per event).
      await eventually(
        async () => {
          const r = await fetch(`${b.url}/api/executions/${id}`)
          return ((await r.json()) as { lastSeq: number }).lastSeq > since + 5
        },
        5_000,
        'B sees A move on',
      )
    }
  })
})
