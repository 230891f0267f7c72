/**
 * The server side of the edge benchmarks (bench/edge.ts): connect, heartbeat, capacity and the
 * control plane, where the cost is per socket or per request rather than per delivered event.
 *
 *   npx tsx bench/servers/edge.ts <kind>     kind: ws | flowcast | flowcast-auth | hono
 *
 * Prints one JSON line `{ url, wsUrl, token?, apiKey? }` on stdout, then answers commands on
 * stdin, one per line, each with one JSON line: `cpu` (process CPU µs so far; with BENCH_PROFILE_DIR set,
 * the first `cpu` also starts a CPU profile of this thread and the next one writes it there, so that the
 * profile holds the measured window only, e.g. a connect round's 2,000 sockets), `lag` (since the
 * previous `lag`: the longest event-loop delay, the longest timer callback in process CPU ms and in
 * main-thread CPU ms, each also less the GC pauses inside it, the longest GC pause, and the RSS),
 * `completed <n>` (starts n executions that complete at once and returns their ids, for read benchmarks).
 *
 * - `ws`: a bare ws server that sends a hello-sized frame on connection and pings every socket in
 *   one loop per interval (the usual hand-written heartbeat).
 * - `flowcast` / `flowcast-auth`: the real startServer() with auth off / on, heartbeat as configured
 *   by BENCH_HEARTBEAT_MS.
 * - `hono`: bare Hono on @hono/node-server with flowcast's two mints per start and a Map of results:
 *   the floor of the control plane on this stack.
 *
 * With BENCH_BUILT=1 flowcast (server and flows) and the signer both sides share come from the
 * production build (`npm run build`'s dist/, tsc's output, what `npm start` and the published
 * package run) instead of the sources through tsx, whose esbuild transform names every closure it
 * makes (`__name`, 6% of a start's profile, none of it in what users run). This file itself and
 * Hono stay as they are for both sides.
 */
import { randomBytes, timingSafeEqual } from 'node:crypto'
import { monitorEventLoopDelay, PerformanceObserver } from 'node:perf_hooks'
import { createInterface } from 'node:readline'
import { serve } from '@hono/node-server'
import { Hono } from 'hono'
import { WebSocketServer } from 'ws'
import { z } from 'zod'
import { mainThreadCpuNs } from '../main-thread-cpu.ts'
import { toggleProfile } from './window-profile.ts'

// The specifiers are computed, so that a checkout without dist/ still typechecks and runs from source.
const built = process.env.BENCH_BUILT === '1'
const from = (source: string, dist: string) => (built ? dist : source)
const { TriggerFlow } = (await import(
  from('../../flows/index.ts', '../../flows/dist/index.js')
)) as typeof import('../../flows/index.ts')
const { Hs256 } = (await import(
  from('../../server/auth/hs256.ts', '../../server/dist/auth/hs256.js')
)) as typeof import('../../server/auth/hs256.ts')
const { startServer } = (await import(
  from('../../server/index.ts', '../../server/dist/index.js')
)) as typeof import('../../server/index.ts')

process.env.LOG_LEVEL ??= 'warn'
const kind = process.argv[2] ?? 'flowcast'
const heartbeatMs = Number(process.env.BENCH_HEARTBEAT_MS ?? 30_000)
const API_KEY = 'bench-api-key-0123456789abcdef'
const SECRET = 'bench-secret-0123456789abcdef0123456789abcdef'

// A normal exit, so that --cpu-prof (BENCH_SERVER_FLAGS) writes its profile.
process.on('SIGTERM', () => process.exit(0))

const lag = monitorEventLoopDelay({ resolution: 1 })
// The idle rounds (BENCH_IDLE) count the server's wake-ups: a 1 ms monitor would be 1,000 a second.
if (process.env.BENCH_IDLE !== '1') lag.enable()

// The longest single timer callback, in CPU time (not wall time: on a shared machine the process
// is descheduled for whole milliseconds, which the event-loop delay above cannot tell from work),
// both as process CPU (every thread: GC helpers and the libuv pool too) and as the main thread's own.
// Every setInterval/setTimeout of the server (the heartbeat's among them) runs through this wrapper.
/** A timed callback: CPU µs (process, main thread), its wall span, which timer. */
interface Callback {
  cpuUs: number
  mainUs: number
  start: number
  end: number
  name: string
}
/**
 * The longest callbacks by process CPU and by main-thread CPU (longest first, so the first of each
 * is the longest timer callback), to take out the GC pauses inside them.
 */
let longByCpu: Callback[] = []
let longByMain: Callback[] = []
const LONG_KEPT = 32
/** GC pauses (ms since timeOrigin, ms): a pause lands in whatever callback allocated, not its cause. */
let gcPauses: { start: number; duration: number }[] = []
new PerformanceObserver((list) => {
  for (const e of list.getEntries()) gcPauses.push({ start: e.startTime, duration: e.duration })
}).observe({ entryTypes: ['gc'] })
const nameOf = (fn: (...args: never) => unknown) => fn.name || String(fn).replace(/\s+/g, ' ').slice(0, 60)
/** Keeps `c` in `list` (longest first, LONG_KEPT at most) if it is among the longest by `key`. */
function keepLongest(list: Callback[], c: Callback, key: 'cpuUs' | 'mainUs'): boolean {
  if (list.length >= LONG_KEPT && c[key] <= list[list.length - 1]![key]) return false
  list.push(c)
  list.sort((a, b) => b[key] - a[key])
  if (list.length > LONG_KEPT) list.pop()
  return true
}
function timed<A extends unknown[]>(fn: (...args: A) => void): (...args: A) => void {
  let name: string | undefined
  return (...args: A) => {
    const mainBefore = mainThreadCpuNs()
    const before = process.cpuUsage()
    const start = performance.now()
    try {
      fn(...args)
    } finally {
      const end = performance.now()
      const d = process.cpuUsage(before)
      const mainUs = (mainThreadCpuNs() - mainBefore) / 1000
      const c = { cpuUs: d.user + d.system, mainUs, start, end, name: '' }
      const kept = keepLongest(longByCpu, c, 'cpuUs')
      if (keepLongest(longByMain, c, 'mainUs') || kept) c.name = name ??= nameOf(fn)
    }
  }
}

/** The longest of `list` by `key` once the GC pauses inside each are taken out, and which timer it was. */
function longestWithoutGc(list: Callback[], key: 'cpuUs' | 'mainUs'): { netMs: number; name: string } {
  let best = { netMs: 0, name: '' }
  for (const c of list) {
    let gc = 0
    for (const p of gcPauses)
      gc += Math.max(0, Math.min(c.end, p.start + p.duration) - Math.max(c.start, p.start))
    const netMs = Math.max(0, c[key] / 1000 - gc)
    if (netMs > best.netMs) best = { netMs, name: c.name }
  }
  return best
}

// Only where timers are measured (the heartbeat rounds set BENCH_HEARTBEAT_MS): flowcast's heartbeat
// ticks every 5 ms (20 ms when this was measured) and raw ws's interval is 30 s, so in a connect
// round the wrapper's cpuUsage() calls charged flowcast alone 12 µs per socket (1.6% of its
// connect-storm profile).
if (process.env.BENCH_HEARTBEAT_MS !== undefined) {
  const realInterval = globalThis.setInterval
  const realTimeout = globalThis.setTimeout
  globalThis.setInterval = ((fn: (...a: unknown[]) => void, ms?: number, ...rest: unknown[]) =>
    realInterval(timed(fn), ms, ...rest)) as typeof setInterval
  globalThis.setTimeout = ((fn: (...a: unknown[]) => void, ms?: number, ...rest: unknown[]) =>
    realTimeout(timed(fn), ms, ...rest)) as typeof setTimeout
}

interface Ready {
  url: string
  wsUrl: string
  token?: string
  apiKey?: string
}

/** A flow that completes at once with a small result: what a start and a result read cost. */
function quickFlow() {
  const flow = new TriggerFlow({
    name: 'quick',
    contract: { input: z.object({ n: z.number().int() }).optional(), result: z.object({ ok: z.boolean() }) },
  })
  flow.to(flow.chunk('done', async () => ({ ok: true }))).end()
  return flow
}

async function rawWs(): Promise<Ready> {
  const wss = new WebSocketServer({ host: '127.0.0.1', port: 0, perMessageDeflate: false, backlog: 4096 })
  const hello = JSON.stringify({ type: 'hello', protocol: 1, connectionId: 'x'.repeat(21), heartbeatMs })
  const alive = new WeakMap<object, boolean>()
  wss.on('connection', (ws) => {
    alive.set(ws, true)
    ws.on('pong', () => alive.set(ws, true))
    ws.on('error', () => ws.terminate())
    ws.send(hello)
  })
  setInterval(() => {
    for (const ws of wss.clients) {
      if (!alive.get(ws)) {
        ws.terminate()
        continue
      }
      alive.set(ws, false)
      ws.ping()
    }
  }, heartbeatMs).unref()
  await new Promise<void>((r) => wss.once('listening', () => r()))
  const { port } = wss.address() as { port: number }
  return { url: `http://127.0.0.1:${port}`, wsUrl: `ws://127.0.0.1:${port}/ws` }
}

async function flowcast(auth: boolean): Promise<Ready> {
  const server = await startServer({
    host: '127.0.0.1',
    port: 0,
    auth: auth ? { apiKey: API_KEY, secret: SECRET } : 'off',
    flows: [quickFlow()],
    limits: {
      maxConnectionsPerAddress: 1_000_000,
      maxLiveExecutions: 1_000_000,
      // The control plane starts tens of thousands of executions: the one its reads ask for must
      // not be evicted as the oldest finished (a 404 would end the run).
      maxFinishedExecutions: 1_000_000,
      heartbeatMs,
    },
    // As `flowcast serve` runs (and as bare Hono on @hono/node-server does by default).
    lightweightWebGlobals: process.env.BENCH_NATIVE_GLOBALS !== '1',
  })
  const wsUrl = `${server.url.replace(/^http/, 'ws')}/ws`
  if (!auth) return { url: server.url, wsUrl }
  const res = await fetch(`${server.url}/api/tokens`, {
    method: 'POST',
    headers: { authorization: `Bearer ${API_KEY}`, 'content-type': 'application/json' },
    body: JSON.stringify({ executionId: '*', role: 'viewer', ttlSeconds: 3600 }),
  })
  const { token } = (await res.json()) as { token: string }
  return { url: server.url, wsUrl, token, apiKey: API_KEY }
}

async function bareHono(): Promise<Ready> {
  // flowcast's mint and check: the same signer, the same claims, the same constant-time key check.
  const tokens = new Hs256(SECRET)
  const key = Buffer.from(API_KEY)
  const claimsOf = { issuer: 'flowcast', audience: 'flowcast-stream' }
  const mint = async (scope: string, role: string) => {
    const iat = Math.floor(Date.now() / 1000)
    return tokens.sign({ role, scope, iss: 'flowcast', aud: 'flowcast-stream', iat, exp: iat + 3600 })
  }
  const isApiKey = (header: string | undefined) => {
    const given = Buffer.from((header ?? '').slice(7))
    return given.length === key.length && timingSafeEqual(given, key)
  }
  const results = new Map<string, { status: string; result: unknown }>()
  const app = new Hono()
  app.post('/api/flows/:name/executions', async (c) => {
    if (!isApiKey(c.req.header('authorization'))) return c.json({ error: 'no' }, 401)
    const body = (await c.req.json()) as { input?: unknown }
    const id = randomBytes(15).toString('base64url')
    results.set(id, { status: 'completed', result: { ok: true, input: body.input ?? null } })
    const [viewer, admin] = await Promise.all([mint(id, 'viewer'), mint(id, 'admin')])
    return c.json({ executionId: id, status: 'running', tokens: { viewer, admin } }, 201)
  })
  app.get('/api/executions/:id/result', async (c) => {
    const claims = tokens.verify((c.req.header('authorization') ?? '').slice(7), claimsOf)
    if (claims.scope !== c.req.param('id') && claims.scope !== '*') return c.json({ error: 'no' }, 403)
    const r = results.get(c.req.param('id'))
    return r ? c.json(r) : c.json({ error: 'not found' }, 404)
  })
  const url = await new Promise<string>((resolve) => {
    serve({ fetch: app.fetch, port: 0, hostname: '127.0.0.1' }, (info) =>
      resolve(`http://127.0.0.1:${info.port}`),
    )
  })
  return { url, wsUrl: '', apiKey: API_KEY }
}

const ready =
  kind === 'ws'
    ? await rawWs()
    : kind === 'hono'
      ? await bareHono()
      : await flowcast(kind === 'flowcast-auth')
console.log(JSON.stringify(ready))

async function completed(n: number): Promise<string[]> {
  const ids: string[] = []
  for (let i = 0; i < n; i++) {
    const res = await fetch(`${ready.url}/api/flows/quick/executions`, {
      method: 'POST',
      headers: {
        'content-type': 'application/json',
        ...(ready.apiKey ? { authorization: `Bearer ${ready.apiKey}` } : {}),
      },
      body: JSON.stringify({ input: { n: i } }),
    })
    ids.push(((await res.json()) as { executionId: string }).executionId)
  }
  return ids
}

for await (const line of createInterface({ input: process.stdin })) {
  const [cmd, arg] = line.trim().split(' ')
  if (cmd === 'cpu') {
    const u = process.cpuUsage()
    console.log(JSON.stringify({ cpuUs: u.user + u.system }))
    toggleProfile(kind)
  } else if (cmd === 'lag') {
    const now = performance.now()
    const net = longestWithoutGc(longByCpu, 'cpuUs')
    const mainNet = longestWithoutGc(longByMain, 'mainUs')
    console.log(
      JSON.stringify({
        maxMs: lag.max / 1e6,
        timerMs: (longByCpu[0]?.cpuUs ?? 0) / 1000,
        netMs: net.netMs,
        name: net.name,
        mainMs: (longByMain[0]?.mainUs ?? 0) / 1000,
        mainNetMs: mainNet.netMs,
        mainName: mainNet.name,
        // The five longest by main-thread CPU, with their wall spans (a CPU figure above its wall
        // span is the clock's error, not work) and how long before this read each ran (an outlier at
        // the window's start is the connect storm's tail).
        mainTop: longByMain.slice(0, 5).map((c) => ({
          ms: c.mainUs / 1000,
          wallMs: c.end - c.start,
          agoS: (now - c.start) / 1000,
        })),
        gcMaxMs: gcPauses.reduce((m, p) => Math.max(m, p.duration), 0),
        rss: process.memoryUsage().rss,
      }),
    )
    lag.reset()
    longByCpu = []
    longByMain = []
    gcPauses = []
  } else if (cmd === 'completed') {
    console.log(JSON.stringify({ ids: await completed(Number(arg)) }))
  } else {
    console.log(JSON.stringify({ error: `unknown command ${cmd}` }))
  }
}
process.exit(0)
