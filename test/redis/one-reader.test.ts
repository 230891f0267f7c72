/**
 * The reader design on a real Redis (issues 7 and 18): a node that follows several rooms reads
 * them on exactly one connection (found in CLIENT LIST by the name the broker gives it), never
 * with a blocking XREAD, and each XREAD names only streams whose doorbell rang: a watched
 * execution that no longer moves is not read again, an unwatched one never. The doorbell is one
 * channel per deployment, subscribed while the node follows anything, and it carries the batch's
 * entries: a follower that is at the batch's start applies them with no XREAD. And a doorbell missed while the pub/sub connection was away loses
 * nothing: the node reads every followed stream again when it is back.
 */
import { Redis } from 'ioredis'
import { afterEach, expect, it } from 'vitest'
import { DEFAULT_LIMITS, type FlowcastServer, RedisBroker, startServer } from '../../server/index.ts'
import { eventually } from '../helpers/poll.ts'
import { createProxy, type TcpProxy } from '../helpers/tcp-proxy.ts'
import { TestSocket } from '../helpers/ws-client.ts'
import { describeRedis, dropPrefix, newPrefix, REDIS_URL, range, startOn } from './env.ts'
import { type MonitoredCommand, monitorRedis, type RedisMonitor } from './monitor.ts'

const servers: FlowcastServer[] = []
const brokers: RedisBroker[] = []
const sockets: TestSocket[] = []
const redises: Redis[] = []
const monitors: RedisMonitor[] = []
const proxies: TcpProxy[] = []
const prefixes: string[] = []

afterEach(async () => {
  await Promise.all(sockets.splice(0).map((s) => s.close()))
  for (const s of servers.splice(0)) await s.close()
  for (const b of brokers.splice(0)) await b.close()
  for (const r of redises.splice(0)) r.disconnect()
  for (const m of monitors.splice(0)) m.close()
  for (const p of proxies.splice(0)) await p.close()
  for (const p of prefixes.splice(0)) await dropPrefix(REDIS_URL, p)
})

/** One CLIENT LIST line as fields. */
type ClientInfo = Record<string, string>

async function clientList(r: Redis): Promise<ClientInfo[]> {
  const text = (await r.call('CLIENT', 'LIST')) as string
  return text
    .split('\n')
    .filter((l) => l.trim() !== '')
    .map((line) =>
      Object.fromEntries(
        line
          .trim()
          .split(' ')
          .map((kv) => kv.split('=', 2) as [string, string]),
      ),
    )
}

/**
 * Node A on the shared Redis; node B's broker is the test's (its node id names its connections).
 * `doorbellBytes` is A's: 0 makes its doorbell only name the logs, so that B reads each ring.
 */
async function twoNodes(url = REDIS_URL, doorbellBytes?: number) {
  const prefix = newPrefix()
  prefixes.push(prefix)
  const a = await startServer({
    port: 0,
    auth: 'off',
    redisUrl: REDIS_URL,
    keyPrefix: prefix,
    ...(doorbellBytes === undefined ? {} : { limits: { doorbellBytes } }),
  })
  servers.push(a)
  // No periodic sweep: every read the test sees is one a doorbell (or a reconnect) asked for.
  const broker = await RedisBroker.connect({
    url,
    keyPrefix: prefix,
    finishedTtlMs: DEFAULT_LIMITS.finishedTtlMs,
    sweepMs: 0,
  })
  brokers.push(broker)
  const b = await startServer({ port: 0, auth: 'off', broker })
  servers.push(b)
  const admin = new Redis(REDIS_URL, { maxRetriesPerRequest: 0 })
  redises.push(admin)
  return { a, b, broker, admin }
}

/** ECHO messages MONITOR has shown: what came before one has been seen. */
const echoes = new Set<string>()

/** Every XREAD Redis runs from now on (MONITOR), with its source address and the keys it names. */
async function watchXreads(): Promise<{ source: string; args: string[]; keys: string[] }[]> {
  const xreads: { source: string; args: string[]; keys: string[] }[] = []
  const onCommand = ({ args: all, source }: MonitoredCommand) => {
    if (all[0]!.toUpperCase() === 'ECHO') echoes.add(all[1]!)
    if (all[0]!.toUpperCase() !== 'XREAD') return
    const at = all.findIndex((x) => x.toUpperCase() === 'STREAMS')
    const rest = all.slice(at + 1)
    xreads.push({ source, args: all, keys: rest.slice(0, rest.length / 2).sort() })
  }
  monitors.push(await monitorRedis(REDIS_URL, onCommand))
  return xreads
}

async function subscribers(b: FlowcastServer, ids: string[]): Promise<TestSocket[]> {
  const out: TestSocket[] = []
  for (const id of ids) {
    const s = await TestSocket.open(b.url)
    sockets.push(s)
    await s.subscribe(id)
    out.push(s)
  }
  return out
}

describeRedis('redis: one reader per node, woken by doorbells', () => {
  it('reads on one connection, never blocking, and only streams whose doorbell rang', async () => {
    // A's doorbell only names the logs: B reads every ring.
    const { a, b, broker, admin } = await twoNodes(REDIS_URL, 0)
    const xreads = await watchXreads()

    // On A: four running executions and two finished ones. B watches two running and both finished.
    const running: string[] = []
    for (let i = 0; i < 4; i++)
      running.push(await startOn(a.url, 'long-job', { count: 100_000, size: 32, intervalMs: 20 }))
    const finished: string[] = []
    for (let i = 0; i < 2; i++) {
      const id = await startOn(a.url, 'long-job', { count: 5, size: 32, intervalMs: 0 })
      await fetch(`${a.url}/api/executions/${id}/result?wait=10000`)
      finished.push(id)
    }
    const watchedRunning = running.slice(0, 2)
    const watched = [...watchedRunning, ...finished]
    const socks = await subscribers(b, watched)
    for (const [i, s] of socks.entries()) {
      await s.until(() => s.seqs(watched[i]!).length > 0, 5_000, `events of ${watched[i]} on B`)
    }
    for (const s of socks.slice(2)) await s.streamEnd(s.frames.find((f) => f.executionId)!.executionId)

    const ofNode = (list: ClientInfo[]) =>
      list.filter((c) => c.name?.startsWith(`flowcast:${broker.nodeId}:`))
    const list = ofNode(await clientList(admin))
    // The command, reader, pub/sub and writer connections: one of each.
    expect(list.map((c) => c.name).sort()).toEqual(
      ['cmd', 'read', 'sub', 'write'].map((n) => `flowcast:${broker.nodeId}:${n}`).sort(),
    )
    const readerAddr = list.find((c) => c.name === `flowcast:${broker.nodeId}:read`)!.addr!
    // The shared Redis serves other tests too: only B's connections count.
    const ofB = new Set(list.map((c) => c.addr!))
    const fromB = (from: number) => xreads.slice(from).filter((x) => ofB.has(x.source))
    const logKey = (id: string) => broker.keys.log(id)

    // Once each doorbell is subscribed, its stream is read once (what came before the SUBSCRIBE).
    await eventually(
      async () => watched.every((id) => fromB(0).some((x) => x.keys.includes(logKey(id)))),
      10_000,
      'one read of each watched stream',
    )
    // From then on the running ones keep ringing: B reads them, and only them, each time.
    const mark = xreads.length
    await eventually(async () => fromB(mark).length >= 10, 10_000, 'ten more XREADs from B')
    const later = fromB(mark)
    expect(later.every((x) => x.source === readerAddr)).toBe(true)
    for (const x of later) {
      expect(x.args.map((t) => t.toUpperCase())).not.toContain('BLOCK')
      for (const k of x.keys) expect(watchedRunning.map(logKey)).toContain(k)
    }
    // No XREAD ever named an unwatched log; none from B ever blocked.
    for (const id of running.slice(2)) expect(xreads.some((x) => x.keys.includes(logKey(id)))).toBe(false)
    expect(fromB(0).some((x) => x.args.some((t) => t.toUpperCase() === 'BLOCK'))).toBe(false)
    expect(fromB(0).length).toBeGreaterThan(0)
    // B holds one doorbell subscription, the deployment's, and no channel per execution.
    const bellSubscribers = async () =>
      Number(((await admin.call('PUBSUB', 'NUMSUB', broker.keys.ticks())) as unknown[])[1])
    expect(await bellSubscribers()).toBe(1)
    const channels = (await admin.call('PUBSUB', 'CHANNELS', `${broker.keys.prefix}*`)) as string[]
    expect(channels.filter((c) => c.startsWith(`${broker.keys.prefix}x:`))).toEqual([])

    // Leaving a room takes its log out of the reads.
    const left = watchedRunning[0]!
    expect(await socks[0]!.request({ type: 'unsubscribe', executionId: left })).toMatchObject({ type: 'ack' })
    // A read already on its way may still name it; from the first one without it, none does.
    const rest = [logKey(watchedRunning[1]!)]
    const mark2 = xreads.length
    await eventually(
      async () => fromB(mark2).some((x) => x.keys.join() === rest.join()),
      10_000,
      'an XREAD without the left room',
    )
    const since = xreads.findIndex((x, i) => i >= mark2 && ofB.has(x.source) && x.keys.join() === rest.join())
    await eventually(async () => fromB(since).length >= 5, 10_000, 'five more XREADs from B')
    for (const x of fromB(since)) expect(x.keys).toEqual(rest)

    // Once B follows nothing, it no longer hears the doorbell.
    await Promise.all(sockets.splice(0).map((s) => s.close()))
    await eventually(async () => (await bellSubscribers()) === 0, 10_000, 'the doorbell unsubscribed')
  })

  it("a follower at the batch's start takes the entries the doorbell carries, with no XREAD", async () => {
    const { a, b, broker, admin } = await twoNodes()
    const xreads = await watchXreads()
    const ids: string[] = []
    for (let i = 0; i < 2; i++)
      ids.push(await startOn(a.url, 'long-job', { count: 100_000, size: 32, intervalMs: 10 }))
    const socks = await subscribers(b, ids)
    for (const [i, s] of socks.entries())
      await s.until(() => s.seqs(ids[i]!).length >= 5, 10_000, 'first events')
    const ofB = new Set(
      (await clientList(admin))
        .filter((c) => c.name?.startsWith(`flowcast:${broker.nodeId}:`))
        .map((c) => c.addr!),
    )
    // MONITOR lags behind: once it shows this ECHO, every XREAD before it is counted.
    await admin.call('ECHO', 'mark')
    await eventually(async () => echoes.has('mark'), 5_000, 'MONITOR to show the mark')
    const before = xreads.filter((x) => ofB.has(x.source)).length
    const from = socks.map((s, i) => s.seqs(ids[i]!).at(-1)!)
    for (const [i, s] of socks.entries())
      await s.until(() => s.seqs(ids[i]!).length >= from[i]! + 30, 10_000, '30 more events on B')
    for (const [i, s] of socks.entries()) expect(s.seqs(ids[i]!)).toEqual(range(1, s.seqs(ids[i]!).at(-1)!))
    expect(xreads.filter((x) => ofB.has(x.source)).length).toBe(before)
  })

  it('a doorbell missed while the pub/sub connection was away loses nothing', async () => {
    const target = new URL(REDIS_URL)
    const proxy = await createProxy(Number(target.port || 6379), target.hostname)
    proxies.push(proxy)
    const { a, b, broker, admin } = await twoNodes(`redis://127.0.0.1:${proxy.port}${target.pathname}`)
    const count = 60
    const id = await startOn(a.url, 'long-job', { count, size: 32, intervalMs: 40 })
    const [s] = await subscribers(b, [id])
    await s!.until(() => s!.seqs(id).length >= 5, 10_000, 'the first events on B')

    // A dead link, then Redis drops B's pub/sub connection: whatever rings now never reaches B.
    proxy.pause()
    const sub = (await clientList(admin)).find((c) => c.name === `flowcast:${broker.nodeId}:sub`)!
    await admin.call('CLIENT', 'KILL', 'ID', sub.id!)
    const seen = s!.seqs(id).length
    // The execution ends while B hears nothing: no ring will come after this.
    const res = await fetch(`${a.url}/api/executions/${id}/result?wait=30000`)
    expect(((await res.json()) as { status: string }).status).toBe('completed')
    expect(seen).toBeLessThan(count)
    proxy.resume()

    // Back, B reads the stream from its cursor: every event once, in order, then the end.
    await s!.streamEnd(id, 20_000)
    expect(s!.seqs(id)).toEqual(range(1, count))
  })
})
