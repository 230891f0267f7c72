/**
 * One node vs two, memory broker vs Redis broker: the same fan-out measured on four layouts.
 *
 *   npx tsx bench/redis-compare.ts [--subs 100] [--events 8000] [--redis redis://127.0.0.1:6379]
 *
 * Every node is its own process (server/main.ts, auth off); subscribers are raw `ws` sockets in
 * this process speaking the wire protocol. Layouts: memory/1 node; redis/1 node (subscribers on
 * the running node); redis/2 nodes with every subscriber on the other node (the Redis read path);
 * redis/2 nodes split half and half. Two figures each: flood (one execution putting `events`
 * items as fast as it can: wall time until every subscriber has all of them, and deliveries/s)
 * and paced (1000 items/s: delivery latency p50/p99 from the envelope's ts). Every subscriber
 * must see seq 1..N exactly once or the run fails.
 */
import { type ChildProcess, spawn } from 'node:child_process'
import { Redis } from 'ioredis'
import WebSocket from 'ws'

const arg = (name: string, dflt: string) => {
  const i = process.argv.indexOf(`--${name}`)
  return i > 0 ? process.argv[i + 1]! : dflt
}
const SUBS = Number(arg('subs', '100'))
// Below the default retention (10,000 events), so every subscriber can and must get all of them.
const EVENTS = Number(arg('events', '8000'))
const REDIS = arg('redis', process.env.REDIS_URL || 'redis://127.0.0.1:6379')

interface Node {
  url: string
  child: ChildProcess
}

async function node(env: Record<string, string>): Promise<Node> {
  const child = spawn(process.execPath, ['--import', 'tsx', 'server/main.ts'], {
    env: { ...process.env, ...env, PORT: '0', FLOWCAST_AUTH: 'off', LOG_LEVEL: 'info' },
    stdio: ['ignore', 'pipe', 'inherit'],
  })
  children.add(child)
  child.once('exit', () => children.delete(child))
  let out = ''
  const url = await new Promise<string>((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`no URL: ${out}`)), 20_000)
    child.stdout!.on('data', (c: Buffer) => {
      out += c.toString()
      const m = /"url":"(http:\/\/[^"]+)"/.exec(out)
      if (m) {
        clearTimeout(timer)
        resolve(m[1]!)
      }
    })
  })
  return { url, child }
}

async function stop(nodes: Node[]): Promise<void> {
  await Promise.all(
    nodes.map(
      (n) =>
        new Promise<void>((resolve) => {
          n.child.once('exit', () => resolve())
          n.child.kill('SIGTERM')
        }),
    ),
  )
}

/** A subscriber socket: checks 1..N exactly once and records latencies. */
function subscriber(url: string, executionId: string, expect: number, lat: number[] | undefined) {
  const ws = new WebSocket(`${url.replace(/^http/, 'ws')}/ws`)
  let next = 1
  let bad = 0
  const done = new Promise<void>((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`subscriber stuck at ${next - 1}/${expect}`)), 120_000)
    ws.on('open', () => ws.send(JSON.stringify({ type: 'subscribe', id: 1, executionId, since: 0 })))
    ws.on('message', (raw) => {
      const f = JSON.parse(raw.toString())
      if (f.type === 'gap') bad++
      const items = f.type === 'event' ? [f] : f.type === 'events' ? f.items : []
      const now = Date.now()
      for (const e of items) {
        if (e.seq !== next) bad++
        next = e.seq + 1
        if (lat && e.seq > 50) lat.push(now - e.ts)
      }
      if (f.type === 'stream_end') {
        clearTimeout(timer)
        ws.close()
        if (bad > 0 || next - 1 !== expect)
          reject(new Error(`inexact: ${bad} out of order, ended at ${next - 1}`))
        else resolve()
      }
    })
    ws.on('error', reject)
  })
  return { done, ready: new Promise<void>((r) => ws.once('open', () => r())) }
}

async function run(nodes: Node[], place: (i: number) => Node, input: object, count: number, lat?: number[]) {
  const res = await fetch(`${nodes[0]!.url}/api/flows/long-job/executions`, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify({ input }),
  })
  const { executionId } = (await res.json()) as { executionId: string }
  const t0 = Date.now()
  const subs = Array.from({ length: SUBS }, (_, i) => subscriber(place(i).url, executionId, count, lat))
  await Promise.all(subs.map((s) => s.done))
  return Date.now() - t0
}

const pct = (xs: number[], p: number) => {
  const s = [...xs].sort((a, b) => a - b)
  return s[Math.min(s.length - 1, Math.floor((p / 100) * s.length))] ?? Number.NaN
}

async function layout(name: string, nodes: Node[], place: (i: number) => Node) {
  // Warm-up, then the measurements.
  await run(nodes, place, { count: 500, size: 64, intervalMs: 0 }, 500)
  const ms = await run(nodes, place, { count: EVENTS, size: 64, intervalMs: 0 }, EVENTS)
  const lat: number[] = []
  await run(nodes, place, { count: 3000, size: 64, intervalMs: 10, burst: 10 }, 3000, lat)
  const row = {
    layout: name,
    floodMs: ms,
    deliveriesPerSec: Math.round((SUBS * EVENTS) / (ms / 1000)),
    p50: pct(lat, 50),
    p99: pct(lat, 99),
  }
  console.error(JSON.stringify(row))
  return row
}

const children = new Set<ChildProcess>()
process.on('exit', () => {
  for (const c of children) c.kill('SIGKILL')
})
process.on('uncaughtException', (err) => {
  console.error(err)
  process.exit(1)
})
const prefix = `bench:${process.pid}:`
const rows = []
{
  const a = await node({})
  rows.push(await layout('memory, 1 node', [a], () => a))
  await stop([a])
}
{
  const env = { REDIS_URL: REDIS, FLOWCAST_KEY_PREFIX: prefix }
  const a = await node(env)
  rows.push(await layout('redis, 1 node', [a], () => a))
  const b = await node(env)
  rows.push(await layout('redis, 2 nodes (all subscribers on B)', [a, b], () => b))
  rows.push(await layout('redis, 2 nodes (half on A, half on B)', [a, b], (i) => (i % 2 ? b : a)))
  await stop([a, b])
}
const r = new Redis(REDIS)
const keys = await r.keys(`${prefix}*`)
if (keys.length) await r.del(...keys)
r.disconnect()

console.log(`${SUBS} subscribers, flood of ${EVENTS} events of ~64 B; paced 1000 events/s for latency\n`)
console.log('| layout | flood: all delivered (ms) | deliveries/s | latency p50 (ms) | p99 (ms) |')
console.log('| --- | ---: | ---: | ---: | ---: |')
for (const x of rows)
  console.log(`| ${x.layout} | ${x.floodMs} | ${x.deliveriesPerSec} | ${x.p50} | ${x.p99} |`)
