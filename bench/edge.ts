/**
 * Edge benchmarks (issue 18): where the cost is per socket or per request, not per delivered event.
 *
 *   npx tsx bench/edge.ts [--rounds 3] [--only connect,heartbeat,idle,control] [--sockets 2000]
 *                         [--kinds ws,flowcast,flowcast-auth,hono] [--control-ms 3000] [--source]
 *
 * Each measurement starts a fresh server process (bench/servers/edge.ts) pinned to CPU 0 with
 * taskset; this process (the clients) pins itself to CPU 1. Rounds are interleaved (every target
 * once per round, the order rotating) and the table shows medians, with flowcast's ratio to its
 * baseline measured in the same rounds.
 *
 * - connect: server CPU per accepted socket (upgrade, hello) for raw ws, flowcast, and flowcast
 *   with auth on (a viewer token in `?token=`).
 * - heartbeat + capacity: as many idle sockets as the fd limit allows, heartbeat every 5 s; over
 *   three intervals, the longest timer callback in the main thread's own CPU ms (what the heartbeat
 *   itself stalls the loop for; bench/main-thread-cpu.ts) and in process CPU ms (all threads: GC
 *   helpers and the libuv pool too), each also less the GC pauses inside it, the longest GC pause,
 *   the longest event-loop delay (wall, which on a shared machine includes time descheduled),
 *   sockets terminated for a late pong after the connect storm, the sockets still open after it
 *   (capacity), and RSS per socket (raw ws pings every socket in one loop per interval, the usual
 *   hand-written heartbeat).
 * - idle: a few sockets connected and nothing sent, the default 30 s heartbeat: server CPU per second
 *   and the main thread's wake-ups per second (its voluntary context switches) over IDLE_MS, the
 *   servers without V8's memory reducer (see idleRound).
 * - control plane, auth on: starts/s and result reads/s against bare Hono with the same two
 *   token mints per start and the same token check per read; both servers run side by side and
 *   take turns in six short windows per round. Both run flowcast's code (the server, and the
 *   signer the Hono baseline shares) from the production build, as `npm start` does: the bench
 *   runs `node scripts/build.mjs protocol flows server` first (`--source` runs the TypeScript
 *   sources through tsx instead, as before; the connect and heartbeat rounds always do).
 */
import { type ChildProcess, execFileSync, spawn } from 'node:child_process'
import { readFileSync } from 'node:fs'
import { createInterface, type Interface } from 'node:readline'
import WebSocket from 'ws'
import { load } from './http-load.ts'
import { serverNodeFlags } from './servers/window-profile.ts'
import { hardFdLimit, hasTaskset } from './system.ts'

const arg = (name: string, dflt: string) => {
  const i = process.argv.indexOf(`--${name}`)
  return i > 0 ? process.argv[i + 1]! : dflt
}
const ROUNDS = Number(arg('rounds', '3'))
const ONLY = new Set(arg('only', 'connect,heartbeat,idle,control').split(','))
const CONNECT_SOCKETS = Number(arg('sockets', '2000'))
/** Comma-separated server kinds to keep (e.g. `flowcast-auth` while profiling); all by default. */
const KINDS = arg('kinds', '') ? new Set(arg('kinds', '').split(',')) : undefined
const CONNECT_CONCURRENCY = 64
const HEARTBEAT_MS = 5000
const IDLE_SOCKETS = 100
const IDLE_MS = 10_000
const IDLE_SETTLE_MS = 1_000
const CONTROL_MS = Number(arg('control-ms', '3000'))
const CONTROL_CONNECTIONS = 16
const CONTROL_WINDOWS = 6
/** The control plane from the sources through tsx rather than from the production build. */
const SOURCE = process.argv.includes('--source')

const pinned = hasTaskset()
if (pinned) execFileSync('taskset', ['-a', '-p', '-c', '1', String(process.pid)], { stdio: 'ignore' })

interface Ready {
  url: string
  wsUrl: string
  token?: string
  apiKey?: string
}

/** One server process of bench/servers/edge.ts and its command line. */
class Server {
  readonly child: ChildProcess
  readonly #lines: Interface
  readonly #waiting: ((line: string) => void)[] = []
  ready!: Ready

  /** `flags`: node flags for this server, after BENCH_SERVER_FLAGS. */
  constructor(kind: string, env: Record<string, string> = {}, flags: string[] = []) {
    const node = [process.execPath, ...serverNodeFlags(), ...flags]
    const args = [...node, '--import', 'tsx', 'bench/servers/edge.ts', kind]
    this.child = spawn(pinned ? 'taskset' : args[0]!, pinned ? ['-c', '0', ...args] : args.slice(1), {
      env: { ...process.env, ...env },
      stdio: ['pipe', 'pipe', 'inherit'],
    })
    this.#lines = createInterface({ input: this.child.stdout! })
    this.#lines.on('line', (line) => this.#waiting.shift()?.(line))
  }

  #line(timeoutMs = 60_000): Promise<string> {
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error('the bench server did not answer')), timeoutMs)
      this.#waiting.push((line) => {
        clearTimeout(timer)
        resolve(line)
      })
    })
  }

  async start(): Promise<this> {
    this.ready = JSON.parse(await this.#line()) as Ready
    return this
  }

  async ask<T>(cmd: string): Promise<T> {
    const answer = this.#line()
    this.child.stdin!.write(`${cmd}\n`)
    return JSON.parse(await answer) as T
  }

  async cpuUs(): Promise<number> {
    return (await this.ask<{ cpuUs: number }>('cpu')).cpuUs
  }

  stop(): Promise<void> {
    return new Promise((resolve) => {
      if (this.child.exitCode !== null) return resolve()
      this.child.once('exit', () => resolve())
      this.child.stdin!.end()
      this.child.kill('SIGTERM')
    })
  }
}

/** Opens `n` sockets, `concurrency` at a time; each counts once its first message (hello) arrives. */
async function openSockets(url: string, n: number, concurrency: number): Promise<WebSocket[]> {
  const sockets: WebSocket[] = []
  let next = 0
  const one = () =>
    new Promise<void>((resolve, reject) => {
      const ws = new WebSocket(url, { perMessageDeflate: false })
      sockets.push(ws)
      ws.once('message', () => resolve())
      ws.once('error', reject)
    })
  await Promise.all(
    Array.from({ length: concurrency }, async () => {
      while (next < n) {
        next++
        await one()
      }
    }),
  )
  return sockets
}

async function closeAll(sockets: WebSocket[]): Promise<void> {
  await Promise.all(
    sockets.map(
      (ws) =>
        new Promise<void>((resolve) => {
          if (ws.readyState === ws.CLOSED) return resolve()
          ws.once('close', () => resolve())
          ws.terminate()
        }),
    ),
  )
}

const median = (xs: number[]) => {
  const s = [...xs].sort((a, b) => a - b)
  const m = Math.floor(s.length / 2)
  return s.length % 2 ? s[m]! : (s[m - 1]! + s[m]!) / 2
}

/** Rows of the table: label -> target -> the measurement of each round. */
const results = new Map<string, Map<string, number[]>>()
function record(label: string, target: string, value: number): void {
  const row = results.get(label) ?? new Map<string, number[]>()
  results.set(label, row)
  row.set(target, [...(row.get(target) ?? []), value])
  console.error(`  ${label} | ${target}: ${value.toFixed(2)}`)
}

async function connectRound(kind: string): Promise<void> {
  const server = await new Server(kind).start()
  try {
    const { wsUrl, token } = server.ready
    const url = token ? `${wsUrl}?token=${encodeURIComponent(token)}` : wsUrl
    // A first batch warms the JIT, so the measured sockets pay for the steady path only.
    await closeAll(await openSockets(url, 200, CONNECT_CONCURRENCY))
    const before = await server.cpuUs()
    const sockets = await openSockets(url, CONNECT_SOCKETS, CONNECT_CONCURRENCY)
    const after = await server.cpuUs()
    record('connect: server CPU µs per accepted socket', kind, (after - before) / CONNECT_SOCKETS)
    await closeAll(sockets)
  } finally {
    await server.stop()
  }
}

async function heartbeatRound(kind: string, n: number): Promise<void> {
  const server = await new Server(kind, { BENCH_HEARTBEAT_MS: String(HEARTBEAT_MS) }).start()
  try {
    const before = await server.ask<{ maxMs: number; rss: number }>('lag')
    const sockets = await openSockets(server.ready.wsUrl, n, CONNECT_CONCURRENCY)
    await server.ask('lag') // the connect storm is not the heartbeat's
    // Counted from the end of the storm: during it this client, busy opening sockets on a shared
    // CPU, may answer pings late, which says nothing about the server.
    const openBefore = sockets.filter((s) => s.readyState === s.OPEN).length
    await new Promise((r) => setTimeout(r, 3 * HEARTBEAT_MS + 200))
    const idle = await server.ask<{
      maxMs: number
      timerMs: number
      netMs: number
      name: string
      mainMs: number
      mainNetMs: number
      mainName: string
      mainTop: { ms: number; wallMs: number; agoS: number }[]
      gcMaxMs: number
      rss: number
    }>('lag')
    const open = sockets.filter((s) => s.readyState === s.OPEN).length
    // A stalled server reads pongs late and terminates live sockets: part of what is measured.
    record(`heartbeat, ${n} idle sockets: sockets terminated while idle`, kind, openBefore - open)
    record(`capacity: sockets open after the connect storm (of ${n})`, kind, openBefore)
    const timer = `heartbeat, ${n} idle sockets: longest timer callback`
    // The main thread's own CPU is what the loop was held for; process CPU adds every other thread
    // (GC helpers, the libuv pool) busy at the same time.
    record(`${timer}, main-thread CPU ms`, kind, idle.mainMs)
    // A GC pause lands in whichever callback allocated when the heap filled; timers are charged
    // only with their own work here (the pauses are shown on their own row).
    record(`${timer}, main-thread CPU less GC pauses in it, ms`, kind, idle.mainNetMs)
    record(`${timer}, process CPU (all threads) ms`, kind, idle.timerMs)
    record(`${timer}, process CPU (all threads) less GC pauses in it, ms`, kind, idle.netMs)
    record(`heartbeat, ${n} idle sockets: longest GC pause ms`, kind, idle.gcMaxMs)
    console.error(
      `    (${kind}: the longest timer net of GC was ${idle.mainName || 'none'} by main-thread CPU, ${idle.name || 'none'} by process CPU; the five longest by main-thread CPU ${idle.mainTop.map((c) => `${c.ms.toFixed(2)} ms (wall ${c.wallMs.toFixed(2)}) ${c.agoS.toFixed(1)} s before the read`).join(', ')})`,
    )
    record(`heartbeat, ${n} idle sockets: longest event-loop delay (wall) ms`, kind, idle.maxMs)
    record(`capacity, ${n} idle sockets: RSS KB per socket`, kind, (idle.rss - before.rss) / 1024 / n)
    await closeAll(sockets)
  } finally {
    await server.stop()
  }
}

/** The main thread's voluntary context switches so far: each is a sleep, so a wake-up after it. */
function mainThreadWakes(pid: number): number {
  const status = readFileSync(`/proc/${pid}/status`, 'utf8')
  return Number(/^voluntary_ctxt_switches:\s+(\d+)/m.exec(status)?.[1] ?? Number.NaN)
}

async function idleRound(kind: string): Promise<void> {
  // Without V8's memory reducer: the few full GCs it runs some seconds after a process starts fell
  // into 3 of 4 windows of a fresh raw ws server (5-10 ms/s, 0.07-0.13 without), a start-up
  // transient of either server, not what its code does while idle.
  const server = await new Server(kind, { BENCH_IDLE: '1' }, ['--no-memory-reducer']).start()
  try {
    const sockets = await openSockets(server.ready.wsUrl, IDLE_SOCKETS, CONNECT_CONCURRENCY)
    // The connects' own work settles before the window.
    await new Promise((r) => setTimeout(r, IDLE_SETTLE_MS))
    const pid = server.child.pid!
    const [cpu0, wakes0] = [await server.cpuUs(), mainThreadWakes(pid)]
    await new Promise((r) => setTimeout(r, IDLE_MS))
    const [cpu1, wakes1] = [await server.cpuUs(), mainThreadWakes(pid)]
    const label = `idle, ${IDLE_SOCKETS} sockets, 30 s heartbeat`
    record(`${label}: server CPU ms per second`, kind, (cpu1 - cpu0) / IDLE_MS)
    record(`${label}: main-thread wake-ups per second`, kind, ((wakes1 - wakes0) * 1000) / IDLE_MS)
    await closeAll(sockets)
  } finally {
    await server.stop()
  }
}

function startRequest(port: number, apiKey: string): (i: number) => string {
  return (i) => {
    const body = `{"input":{"n":${i % 1000}}}`
    return `POST /api/flows/quick/executions HTTP/1.1\r\nhost: 127.0.0.1:${port}\r\nauthorization: Bearer ${apiKey}\r\ncontent-type: application/json\r\ncontent-length: ${body.length}\r\n\r\n${body}`
  }
}

/** One execution's result read with a viewer token for it, on a server of `ready`. */
async function readRequest(ready: Ready): Promise<string> {
  const port = Number(new URL(ready.url).port)
  const res = await fetch(`${ready.url}/api/flows/quick/executions`, {
    method: 'POST',
    headers: { authorization: `Bearer ${ready.apiKey!}`, 'content-type': 'application/json' },
    body: '{"input":{"n":1}}',
  })
  const started = (await res.json()) as { executionId: string; tokens: { viewer: string } }
  return `GET /api/executions/${started.executionId}/result HTTP/1.1\r\nhost: 127.0.0.1:${port}\r\nauthorization: Bearer ${started.tokens.viewer}\r\n\r\n`
}

/**
 * Both control-plane servers run side by side (idle while the other is loaded) and take turns
 * in short windows, CONTROL_WINDOWS each, so that drift of a shared machine within the round
 * hits both alike; each figure is the requests over the time of that server's own windows.
 */
async function controlRound(round: number): Promise<void> {
  const kinds = rotate(['hono', 'flowcast-auth'], round)
  const env: Record<string, string> = SOURCE ? {} : { BENCH_BUILT: '1' }
  const servers = await Promise.all(kinds.map((k) => new Server(k, env).start()))
  try {
    const ports = servers.map((sv) => Number(new URL(sv.ready.url).port))
    const starts = servers.map((sv, i) => startRequest(ports[i]!, sv.ready.apiKey!))
    for (let i = 0; i < servers.length; i++) await load(ports[i]!, starts[i]!, CONTROL_CONNECTIONS, 500)
    const reads = await Promise.all(servers.map((sv) => readRequest(sv.ready)))
    const windowMs = CONTROL_MS / CONTROL_WINDOWS
    const total = kinds.map(() => ({ starts: 0, startMs: 0, reads: 0, readMs: 0 }))
    for (let w = 0; w < CONTROL_WINDOWS; w++) {
      for (let i = 0; i < servers.length; i++) {
        const s1 = await load(ports[i]!, starts[i]!, CONTROL_CONNECTIONS, windowMs)
        if ((s1.statuses[201] ?? 0) !== s1.requests)
          throw new Error(`${kinds[i]}: starts answered ${JSON.stringify(s1.statuses)}`)
        total[i]!.starts += s1.requests
        total[i]!.startMs += s1.elapsedMs
        const read = reads[i]!
        const r1 = await load(ports[i]!, () => read, CONTROL_CONNECTIONS, windowMs)
        if ((r1.statuses[200] ?? 0) !== r1.requests)
          throw new Error(`${kinds[i]}: reads answered ${JSON.stringify(r1.statuses)}`)
        total[i]!.reads += r1.requests
        total[i]!.readMs += r1.elapsedMs
      }
    }
    kinds.forEach((k, i) => {
      const t = total[i]!
      record('control plane, auth on: starts/s (higher is better)', k, t.starts / (t.startMs / 1000))
      record('control plane, auth on: result reads/s (higher is better)', k, t.reads / (t.readMs / 1000))
    })
  } finally {
    await Promise.all(servers.map((sv) => sv.stop()))
  }
}

const rotate = (xs: string[], r: number) =>
  xs.map((_, i) => xs[(i + r) % xs.length]!).filter((k) => !KINDS || KINDS.has(k))
const capacityN = Math.max(100, hardFdLimit() - 512)

if (ONLY.has('control') && !SOURCE) {
  console.error('building protocol, flows and server (the control plane runs the production build)')
  execFileSync(process.execPath, ['scripts/build.mjs', 'protocol', 'flows', 'server'], { stdio: 'ignore' })
}

for (let round = 0; round < ROUNDS; round++) {
  console.error(`round ${round + 1}/${ROUNDS}`)
  if (ONLY.has('connect'))
    for (const k of rotate(['ws', 'flowcast', 'flowcast-auth'], round)) await connectRound(k)
  if (ONLY.has('heartbeat'))
    for (const k of rotate(['ws', 'flowcast'], round)) await heartbeatRound(k, capacityN)
  if (ONLY.has('idle')) for (const k of rotate(['ws', 'flowcast'], round)) await idleRound(k)
  if (ONLY.has('control')) await controlRound(round)
}

// The table: each row's targets, flowcast's ratio to the baseline, and the issue's goal.
const GOALS: Record<string, { base: string; target: string; goal: string }[]> = {
  'connect: server CPU µs per accepted socket': [
    { base: 'ws', target: 'flowcast', goal: '<= 1.3x ws' },
    { base: 'ws', target: 'flowcast-auth', goal: '<= 250 µs' },
  ],
  'control plane, auth on: starts/s (higher is better)': [
    { base: 'hono', target: 'flowcast-auth', goal: '>= 0.5x hono' },
  ],
  'control plane, auth on: result reads/s (higher is better)': [
    { base: 'hono', target: 'flowcast-auth', goal: '>= 0.3x hono' },
  ],
}
const fmt = (v: number) => (v >= 100 ? v.toFixed(0) : v >= 10 ? v.toFixed(1) : v.toFixed(2))
const uptime = execFileSync('uptime').toString().trim()
console.log(
  `rounds: ${ROUNDS} (interleaved, medians) · node ${process.version} · ${pinned ? 'server on CPU 0, clients on CPU 1' : 'not pinned'}${ONLY.has('control') ? ` · control plane from ${SOURCE ? 'the sources (tsx)' : 'the production build'}` : ''} · ${uptime}`,
)
console.log('')
console.log('| metric | target | baseline | target value | baseline value | ratio | goal |')
console.log('| :-- | :-- | :-- | --: | --: | --: | :-- |')
for (const [label, row] of results) {
  const goals = GOALS[label]
  if (goals) {
    for (const g of goals) {
      const t = median(row.get(g.target) ?? [Number.NaN])
      const b = median(row.get(g.base) ?? [Number.NaN])
      console.log(
        `| ${label} | ${g.target} | ${g.base} | ${fmt(t)} | ${fmt(b)} | ${(t / b).toFixed(2)}x | ${g.goal} |`,
      )
    }
  } else {
    const t = median(row.get('flowcast') ?? [Number.NaN])
    const b = median(row.get('ws') ?? [Number.NaN])
    const goal = label.endsWith('main-thread CPU less GC pauses in it, ms')
      ? '<= 5 ms'
      : label.endsWith('while idle')
        ? '0'
        : label.startsWith('capacity: sockets open')
          ? `${capacityN}`
          : ''
    console.log(`| ${label} | flowcast | ws | ${fmt(t)} | ${fmt(b)} | ${(t / b).toFixed(2)}x | ${goal} |`)
  }
}
process.exit(0)
