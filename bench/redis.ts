/**
 * Redis at many followed streams (issue 18): flowcast on two nodes vs socket.io with its Redis
 * adapter on two processes, the same shape for both.
 *
 *   npm run bench:redis [-- --quick] [--rate 2000] [--streams 100,5000] [--seconds 10] [--commandstats]
 *
 * A private redis-server (no persistence) on a free port, so that its CPU is this run's only.
 * Node A runs the streams (flowcast: `long-job` executions, one event per stream every
 * streams/rate s; socket.io: a pacer emitting to rooms at `rate` events/s in all); node B holds
 * the subscribers: `sockets` client sockets in this process, each subscribed to its share of the
 * streams, one subscriber per stream. Measured over a window after a warm-up: total CPU of A, B
 * and redis-server (from /proc) per delivered event, and delivery latency (receive time less the
 * event's `ts`, both on this machine's clock) p50/p99. Printed side by side with the targets:
 * CPU/event <= 1.0x socket.io's adapter, and flowcast's p99 at the largest stream count <= 2x its
 * p99 at the smallest.
 */
import { type ChildProcess, spawn } from 'node:child_process'
import { readFileSync } from 'node:fs'
import net from 'node:net'
import { Redis } from 'ioredis'
import { io as ioClient, type Socket } from 'socket.io-client'
import WebSocket from 'ws'
import { freePort } from '../test/helpers/net.ts'

const argv = process.argv.slice(2)
const arg = (name: string, dflt: string) => {
  const i = argv.indexOf(`--${name}`)
  return i >= 0 ? argv[i + 1]! : dflt
}
const QUICK = argv.includes('--quick')
const RATE = Number(arg('rate', '2000'))
const STREAMS = arg('streams', '100,5000').split(',').map(Number)
const SECONDS = Number(arg('seconds', QUICK ? '3' : '10'))
const WARMUP_MS = QUICK ? 1000 : 3000
const SOCKETS = Number(arg('sockets', '50'))
/** `flowcast`, `socketio` or both (a flowcast-only run in another checkout compares two versions). */
const SYSTEMS = arg('systems', 'socketio,flowcast').split(',')
/** A directory: flowcast's nodes run with --cpu-prof there (ended by SIGTERM, no drain). */
const PROFILE = arg('profile', '')
const PAD = 40
/** Also print Redis's own count of each command per delivered event over the window (INFO commandstats). */
const COMMANDSTATS = argv.includes('--commandstats')
const TICK_MS = 1000 / 100 // USER_HZ on Linux

const children = new Set<ChildProcess>()
process.on('exit', () => {
  for (const c of children) c.kill('SIGKILL')
})

/** CPU ms a process has used so far (user + system). */
function cpuMs(pid: number): number {
  const stat = readFileSync(`/proc/${pid}/stat`, 'utf8')
  const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ')
  return (Number(fields[11]) + Number(fields[12])) * TICK_MS
}

/** Spawns a process and resolves with the first JSON line carrying `url` on its stdout. */
function spawnWithUrl(
  args: string[],
  env: Record<string, string>,
): Promise<{ child: ChildProcess; url: string }> {
  const child = spawn(process.execPath, args, {
    env: { ...process.env, ...env },
    stdio: ['pipe', 'pipe', 'inherit'],
  })
  children.add(child)
  child.once('exit', () => children.delete(child))
  let out = ''
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`no URL from ${args.join(' ')}: ${out}`)), 30_000)
    child.stdout!.on('data', (c: Buffer) => {
      out += c.toString()
      const m = /"url":"(http:\/\/[^"]+)"/.exec(out)
      if (m && timer) {
        clearTimeout(timer)
        resolve({ child, url: m[1]! })
      }
    })
  })
}

async function stop(child: ChildProcess, signal: NodeJS.Signals = 'SIGKILL'): Promise<void> {
  if (child.exitCode !== null) return
  await new Promise<void>((resolve) => {
    child.once('exit', () => resolve())
    child.kill(signal)
    // A node that does not end on SIGTERM in time is killed.
    setTimeout(() => child.kill('SIGKILL'), 20_000).unref()
  })
}

async function ownRedis(): Promise<{ url: string; pid: number; child: ChildProcess }> {
  const port = await freePort()
  const child = spawn('redis-server', ['--port', String(port), '--save', '', '--appendonly', 'no'], {
    stdio: 'ignore',
  })
  children.add(child)
  for (let i = 0; i < 100; i++) {
    const ok = await new Promise<boolean>((resolve) => {
      const s = net.connect(port, '127.0.0.1', () => {
        s.end()
        resolve(true)
      })
      s.on('error', () => resolve(false))
    })
    if (ok) return { url: `redis://127.0.0.1:${port}`, pid: child.pid!, child }
    await new Promise((r) => setTimeout(r, 50))
  }
  throw new Error('redis-server did not start')
}

/** Latencies and counts of the measured window. */
class Tally {
  measuring = false
  delivered = 0
  bad = 0
  readonly lat: number[] = []
  readonly next = new Map<string, number>()
  see(stream: string, seq: number, ts: number): void {
    const want = this.next.get(stream)
    if (want !== undefined && seq !== want) this.bad++
    this.next.set(stream, seq + 1)
    if (!this.measuring) return
    this.delivered++
    this.lat.push(Date.now() - ts)
  }
}

const pct = (xs: number[], p: number) => {
  const s = [...xs].sort((a, b) => a - b)
  return s[Math.min(s.length - 1, Math.floor((p / 100) * s.length))] ?? Number.NaN
}

interface Row {
  system: string
  streams: number
  events: number
  cpuUsPerEvent: number
  cpu: { a: number; b: number; redis: number }
  p50: number
  p99: number
  bad: number
  /** Calls per delivered event of each command Redis ran in the window (with --commandstats). */
  commands?: Record<string, number>
}

/** `cmdstat_<name>:calls=N,...` lines of INFO commandstats as name -> calls. */
async function commandCalls(admin: Redis): Promise<Map<string, number>> {
  const text = (await admin.info('commandstats')) as string
  const calls = new Map<string, number>()
  for (const m of text.matchAll(/^cmdstat_([^:]+):calls=(\d+)/gm)) calls.set(m[1]!, Number(m[2]))
  return calls
}

/** The window: CPU of every process and deliveries from `start` to its end. */
async function measure(
  system: string,
  streams: number,
  tally: Tally,
  pids: { a: number; b: number; redis: number },
  admin: Redis,
): Promise<Row> {
  await new Promise((r) => setTimeout(r, WARMUP_MS))
  const calls = COMMANDSTATS ? await commandCalls(admin) : undefined
  const before = { a: cpuMs(pids.a), b: cpuMs(pids.b), redis: cpuMs(pids.redis) }
  tally.measuring = true
  await new Promise((r) => setTimeout(r, SECONDS * 1000))
  tally.measuring = false
  const callsAfter = calls ? await commandCalls(admin) : undefined
  const cpu = {
    a: cpuMs(pids.a) - before.a,
    b: cpuMs(pids.b) - before.b,
    redis: cpuMs(pids.redis) - before.redis,
  }
  const total = cpu.a + cpu.b + cpu.redis
  const row: Row = {
    system,
    streams,
    events: tally.delivered,
    cpuUsPerEvent: tally.delivered > 0 ? (total * 1000) / tally.delivered : Number.NaN,
    cpu,
    p50: pct(tally.lat, 50),
    p99: pct(tally.lat, 99),
    bad: tally.bad,
  }
  if (calls && callsAfter && tally.delivered > 0) {
    row.commands = {}
    for (const [name, n] of callsAfter) {
      const per = (n - (calls.get(name) ?? 0)) / tally.delivered
      if (per >= 0.005) row.commands[name] = Number(per.toFixed(2))
    }
  }
  console.error(JSON.stringify(row))
  return row
}

async function inBatches<T>(items: T[], n: number, fn: (item: T) => Promise<void>): Promise<void> {
  let i = 0
  await Promise.all(
    Array.from({ length: n }, async () => {
      while (i < items.length) await fn(items[i++]!)
    }),
  )
}

async function flowcast(redis: { url: string; pid: number; admin: Redis }, streams: number): Promise<Row> {
  const env = {
    REDIS_URL: redis.url,
    FLOWCAST_KEY_PREFIX: `bench:${process.pid}:${streams}:`,
    FLOWCAST_AUTH: 'off',
    LOG_LEVEL: 'warn',
    PORT: '0',
    FLOWCAST_MAX_LIVE_EXECUTIONS: String(streams + 100),
    FLOWCAST_MAX_SUBSCRIPTIONS: String(Math.ceil(streams / SOCKETS) + 1),
    FLOWCAST_COMMANDS_PER_SECOND: '1000000',
    FLOWCAST_DRAIN_TIMEOUT_MS: '0',
  }
  const prof = (name: string) =>
    PROFILE ? ['--cpu-prof', '--cpu-prof-dir', `${PROFILE}/${name}-${streams}`] : []
  const args = (name: string) => [...prof(name), '--import', 'tsx', 'server/main.ts']
  const a = await spawnWithUrl(args('a'), { ...env, LOG_LEVEL: 'info' })
  const b = await spawnWithUrl(args('b'), { ...env, LOG_LEVEL: 'info' })
  const intervalMs = Math.round((streams / RATE) * 1000)
  const count = Math.ceil(((SECONDS * 1000 + WARMUP_MS + 60_000) / intervalMs) * 1.5)
  const t0 = Date.now()
  const ids: string[] = []
  await inBatches(
    Array.from({ length: streams }, (_, i) => i),
    16,
    async () => {
      const res = await fetch(`${a.url}/api/flows/long-job/executions`, {
        method: 'POST',
        headers: { 'content-type': 'application/json' },
        body: JSON.stringify({ input: { count, size: 64, intervalMs } }),
      })
      if (!res.ok) throw new Error(`start: ${res.status} ${await res.text()}`)
      ids.push(((await res.json()) as { executionId: string }).executionId)
    },
  )
  const tally = new Tally()
  const sockets: WebSocket[] = []
  const per = Math.ceil(streams / SOCKETS)
  for (let s = 0; s * per < ids.length; s++) {
    const mine = ids.slice(s * per, (s + 1) * per)
    const ws = new WebSocket(`${b.url.replace(/^http/, 'ws')}/ws`)
    sockets.push(ws)
    let acked = 0
    await new Promise<void>((resolve, reject) => {
      ws.once('error', reject)
      ws.on('open', () => {
        for (const [k, id] of mine.entries())
          ws.send(JSON.stringify({ type: 'subscribe', id: k + 1, executionId: id, since: 0 }))
      })
      ws.on('message', (raw) => {
        const f = JSON.parse(raw.toString())
        if (f.type === 'subscribed' && ++acked === mine.length) resolve()
        else if (f.type === 'error') reject(new Error(`subscribe: ${JSON.stringify(f)}`))
        const items = f.type === 'event' ? [f] : f.type === 'events' ? f.items : []
        for (const e of items) tally.see(f.executionId, e.seq, e.ts)
      })
    })
  }
  console.error(`[flowcast ${streams}] ${streams} executions started and subscribed in ${Date.now() - t0} ms`)
  const row = await measure(
    'flowcast (2 nodes, Redis broker)',
    streams,
    tally,
    {
      a: a.child.pid!,
      b: b.child.pid!,
      redis: redis.pid,
    },
    redis.admin,
  )
  for (const ws of sockets) ws.terminate()
  await Promise.all([
    stop(a.child, PROFILE ? 'SIGTERM' : 'SIGKILL'),
    stop(b.child, PROFILE ? 'SIGTERM' : 'SIGKILL'),
  ])
  return row
}

async function socketio(redis: { url: string; pid: number; admin: Redis }, streams: number): Promise<Row> {
  const args = ['--import', 'tsx', 'bench/servers/socketio-redis.ts']
  const b = await spawnWithUrl(args, { REDIS_URL: redis.url, ROLE: 'sub' })
  const a = await spawnWithUrl(args, {
    REDIS_URL: redis.url,
    ROLE: 'pub',
    ROOMS: String(streams),
    RATE: String(RATE),
    PAD: String(PAD),
  })
  const tally = new Tally()
  const rooms = Array.from({ length: streams }, (_, i) => `r${i}`)
  const per = Math.ceil(streams / SOCKETS)
  const sockets: Socket[] = []
  for (let s = 0; s * per < rooms.length; s++) {
    const mine = rooms.slice(s * per, (s + 1) * per)
    const socket = ioClient(b.url, { transports: ['websocket'], forceNew: true })
    sockets.push(socket)
    socket.on('event', (e: { executionId: string; seq: number; ts: number }) =>
      tally.see(e.executionId, e.seq, e.ts),
    )
    await new Promise<void>((resolve, reject) => {
      socket.once('connect_error', reject)
      socket.once('connect', () => socket.emit('subscribe', mine, () => resolve()))
    })
  }
  a.child.stdin!.write('go\n')
  const row = await measure(
    'socket.io + @socket.io/redis-adapter (2 processes)',
    streams,
    tally,
    {
      a: a.child.pid!,
      b: b.child.pid!,
      redis: redis.pid,
    },
    redis.admin,
  )
  a.child.stdin!.write('stop\n')
  for (const s of sockets) s.disconnect()
  await Promise.all([stop(a.child), stop(b.child)])
  return row
}

const own = await ownRedis()
const redis = { ...own, admin: new Redis(own.url) }
const rows: Row[] = []
for (const streams of STREAMS) {
  if (SYSTEMS.includes('socketio')) rows.push(await socketio(redis, streams))
  if (SYSTEMS.includes('flowcast')) rows.push(await flowcast(redis, streams))
}
redis.admin.disconnect()
await stop(redis.child)

const fmt = (n: number, d = 0) => (Number.isFinite(n) ? n.toFixed(d) : 'n/a')
console.log(
  `\nRedis, ${RATE} events/s in all over N followed streams, one subscriber each on the other node (${SOCKETS} sockets); ${SECONDS} s window\n`,
)
console.log(
  '| system | streams | events | CPU us/event (A + B + redis) | A / B / redis ms | p50 ms | p99 ms | inexact |',
)
console.log('| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: |')
for (const r of rows)
  console.log(
    `| ${r.system} | ${r.streams} | ${r.events} | ${fmt(r.cpuUsPerEvent)} | ${fmt(r.cpu.a)} / ${fmt(r.cpu.b)} / ${fmt(r.cpu.redis)} | ${fmt(r.p50)} | ${fmt(r.p99)} | ${r.bad} |`,
  )
if (COMMANDSTATS) {
  console.log('\nRedis commands per delivered event (INFO commandstats over the window)\n')
  console.log('| system | streams | commands per event |')
  console.log('| --- | ---: | --- |')
  for (const r of rows) {
    const list = Object.entries(r.commands ?? {})
      .sort((x, y) => y[1] - x[1])
      .map(([k, v]) => `${k} ${v}`)
    console.log(`| ${r.system} | ${r.streams} | ${list.join(', ')} |`)
  }
}
if (!SYSTEMS.includes('socketio') || !SYSTEMS.includes('flowcast')) process.exit()
console.log('\n| target | figure | goal | met |')
console.log('| --- | ---: | ---: | --- |')
for (const streams of STREAMS) {
  const f = rows.find((r) => r.system.startsWith('flowcast') && r.streams === streams)!
  const s = rows.find((r) => r.system.startsWith('socket.io') && r.streams === streams)!
  const ratio = f.cpuUsPerEvent / s.cpuUsPerEvent
  console.log(
    `| CPU/event at ${streams} streams, flowcast / socket.io adapter | ${fmt(ratio, 2)}x | <= 1.00x | ${ratio <= 1 ? 'yes' : 'no'} |`,
  )
}
const small = rows.find((r) => r.system.startsWith('flowcast') && r.streams === Math.min(...STREAMS))!
const large = rows.find((r) => r.system.startsWith('flowcast') && r.streams === Math.max(...STREAMS))!
const growth = large.p99 / Math.max(1, small.p99)
console.log(
  `| flowcast p99 at ${large.streams} / at ${small.streams} streams | ${fmt(growth, 2)}x (${fmt(large.p99)} / ${fmt(small.p99)} ms) | <= 2.00x | ${growth <= 2 ? 'yes' : 'no'} |`,
)
if (rows.some((r) => r.bad > 0)) {
  console.error('some subscriber saw a seq out of order')
  process.exitCode = 1
}
process.exit()
