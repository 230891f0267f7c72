/**
 * Issue 7's reader design on a real Redis: a node that follows several rooms holds exactly one
 * blocking XREAD connection (found in CLIENT LIST by the name the broker gives it), and that XREAD
 * names the log keys of the watched executions only, shrinking when a room is left.
 */
import { Redis } from 'ioredis'
import { afterEach, expect, it } from 'vitest'
import { DEFAULT_LIMITS, type FlowcastServer, RedisBroker, startServer } from '../../server/index.ts'
import { eventually } from '../helpers/poll.ts'
import { TestSocket } from '../helpers/ws-client.ts'
import { describeRedis, dropPrefix, newPrefix, REDIS_URL, startOn } from './env.ts'

const servers: FlowcastServer[] = []
const brokers: RedisBroker[] = []
const sockets: TestSocket[] = []
const redises: Redis[] = []
const prefixes: string[] = []

afterEach(async () => {
  await Promise.all(sockets.splice(0).map((s) => s.close()))
  for (const s of servers.splice(0)) await s.close()
  for (const b of brokers.splice(0)) await b.close()
  for (const r of redises.splice(0)) r.disconnect()
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

describeRedis('redis: one blocking reader per node', () => {
  it('N rooms on a node share one blocking XREAD, which reads the watched executions only', async () => {
    const prefix = newPrefix()
    prefixes.push(prefix)
    const a = await startServer({ port: 0, auth: 'off', redisUrl: REDIS_URL, keyPrefix: prefix })
    servers.push(a)
    // Node B's broker is ours, so the test knows its node id and thus its connections' names.
    const broker = await RedisBroker.connect({
      url: REDIS_URL,
      keyPrefix: prefix,
      finishedTtlMs: DEFAULT_LIMITS.finishedTtlMs,
    })
    brokers.push(broker)
    const b = await startServer({ port: 0, auth: 'off', broker })
    servers.push(b)

    const admin = new Redis(REDIS_URL, { maxRetriesPerRequest: 0 })
    redises.push(admin)
    const monitor = await new Redis(REDIS_URL, { maxRetriesPerRequest: 0 }).monitor()
    redises.push(monitor)
    const xreads: { source: string; keys: string[] }[] = []
    monitor.on('monitor', (_time: string, args: string[], source: string) => {
      if (String(args[0]).toUpperCase() !== 'XREAD') return
      const at = args.findIndex((x) => String(x).toUpperCase() === 'STREAMS')
      const rest = args.slice(at + 1)
      xreads.push({ source, keys: rest.slice(0, rest.length / 2).sort() })
    })

    // Six executions run on A; B's sockets watch four of them.
    const ids: string[] = []
    for (let i = 0; i < 6; i++)
      ids.push(await startOn(a.url, 'long-job', { count: 100_000, size: 32, intervalMs: 20 }))
    const watched = ids.slice(0, 4)
    const logKey = (id: string) => broker.keys.log(id)
    for (const id of watched) {
      const s = await TestSocket.open(b.url)
      sockets.push(s)
      await s.subscribe(id)
      await s.until(() => s.seqs(id).length > 0, 5_000, `events of ${id} on B`)
    }

    const named = `flowcast:${broker.nodeId}:read`
    const ofNode = (list: ClientInfo[]) =>
      list.filter((c) => c.name?.startsWith(`flowcast:${broker.nodeId}:`))
    let blocked: ClientInfo[] = []
    await eventually(
      async () => {
        blocked = ofNode(await clientList(admin)).filter((c) => c.cmd === 'xread' && c.flags?.includes('b'))
        return blocked.length > 0
      },
      5_000,
      "B's reader blocked in XREAD",
    )
    const list = ofNode(await clientList(admin))
    // The command, reader, pub/sub and writer connections: one of each, and XREAD only on the reader.
    expect(list.map((c) => c.name).sort()).toEqual(
      [
        `flowcast:${broker.nodeId}:cmd`,
        named,
        `flowcast:${broker.nodeId}:sub`,
        `flowcast:${broker.nodeId}:write`,
      ].sort(),
    )
    expect(blocked.map((c) => c.name)).toEqual([named])
    expect(list.filter((c) => c.cmd === 'xread').map((c) => c.name)).toEqual([named])
    const readerAddr = blocked[0]!.addr!

    // Every XREAD from B's reader since the rooms settled names exactly the four watched logs.
    const fromReader = () => xreads.filter((x) => x.source === readerAddr)
    const mark = fromReader().length
    await eventually(async () => fromReader().length >= mark + 3, 5_000, 'three more XREADs from B')
    const want = watched.map(logKey).sort()
    for (const x of fromReader().slice(mark)) expect(x.keys).toEqual(want)
    // No connection of any node read the unwatched executions' logs by XREAD.
    for (const id of ids.slice(4)) expect(xreads.some((x) => x.keys.includes(logKey(id)))).toBe(false)

    // Leaving a room takes its log out of the next XREAD.
    const left = sockets[0]!
    expect(await left.request({ type: 'unsubscribe', executionId: watched[0]! })).toMatchObject({
      type: 'ack',
    })
    const fewer = watched.slice(1).map(logKey).sort()
    let since = fromReader().length
    await eventually(
      async () =>
        fromReader()
          .slice(since)
          .some((x) => x.keys.join() === fewer.join()),
      5_000,
      'an XREAD without the left room',
    )
    since = fromReader().findIndex((x, i) => i >= since && x.keys.join() === fewer.join())
    await eventually(async () => fromReader().length >= since + 3, 5_000, 'more XREADs from B')
    for (const x of fromReader().slice(since)) expect(x.keys).toEqual(fewer)
    // Still one reader after the change.
    const after = ofNode(await clientList(admin)).filter((c) => c.cmd === 'xread')
    expect(after.map((c) => c.name)).toEqual([named])
  })
})
