/**
 * The orchestrator: `npm run bench` (three rounds) or `npm run bench:quick` (one short round).
 * Each measurement gets a fresh server process pinned to CPU 0; one client process, pinned to the
 * other CPU(s), drives the subscribers for all of them. Targets are interleaved within a round (in
 * a rotating order) so drift of the machine hits every column alike; the table shows medians.
 */
import { execFileSync } from 'node:child_process'
import { mkdirSync, writeFileSync } from 'node:fs'
import os from 'node:os'
import { fileURLToPath } from 'node:url'
import { parseArgs } from 'node:util'
import { type Peer, spawnTs } from './ipc.ts'
import type {
  ConnectResult,
  Plan,
  ProgressMessage,
  ReadyMessage,
  RunResult,
  ServerStats,
  Tally,
} from './protocol.ts'
import { clock } from './protocol.ts'
import { type Metric, type Row, type Scenario, suite } from './scenarios.ts'
import { serverNodeFlags } from './servers/window-profile.ts'
import {
  hardFdLimit,
  hasTaskset,
  netdevMaxBacklog,
  type SystemCounters,
  systemCounters,
  systemDelta,
} from './system.ts'
import { type Exactness, renderTable } from './table.ts'
import { available, TARGETS, type Target, type TargetName } from './targets.ts'

const { values: flags } = parseArgs({
  options: {
    quick: { type: 'boolean', default: false },
    /** Comma-separated scenario keys, to repeat one measurement while profiling. */
    only: { type: 'string' },
    /** Comma-separated target names. */
    targets: { type: 'string' },
    rounds: { type: 'string' },
  },
})
const quick = flags.quick
// Leaves room under the 2-minute promise of --quick for process start-up and printing.
const BUDGET_MS = quick ? 95_000 : 45 * 60_000
const startedAt = clock()

// flowcast's last presence goes out ~500 ms after a room's last join, a large join storm's spread over turns.
const SETTLE_TIMEOUT_MS = 15_000

const sleep = (ms: number) => new Promise<void>((resolve) => setTimeout(resolve, ms))

interface Measurement {
  target: TargetName
  scenario: string
  round: number
  metrics: Partial<Record<Metric, number>>
  tally?: Tally
  connect?: ConnectResult
  /** Loopback drops, TCP retransmissions and machine CPU while events flowed (system-wide). */
  sys?: SystemCounters
  /** Share of the machine's CPU time used by processes other than this server and client. */
  otherLoad?: number
  /** The server's longest pacer overrun (wall and CPU ms inside it) and longest GC pause. */
  stall?: RunResult['stall']
  gcMaxMs?: number
  /** Share of the server's CPU in the phase spent off its main thread (GC helpers, compiler). */
  offMain?: number
  error?: string
}

/** Server on CPU 0, everything else on the rest; nothing pinned on a one-CPU machine. */
function placement(): { server?: string; client?: string; note: string } {
  const n = os.availableParallelism()
  if (n < 2) return { note: 'not pinned (1 CPU: server and clients share it)' }
  if (!hasTaskset()) return { note: 'not pinned (no taskset)' }
  const client = n === 2 ? '1' : `1-${n - 1}`
  try {
    // The orchestrator itself only relays messages, but keep even that off the server's CPU.
    execFileSync('taskset', ['-a', '-p', '-c', client, String(process.pid)], { stdio: 'ignore' })
  } catch {}
  return { server: '0', client, note: `server pinned to CPU 0, clients on CPU ${client}` }
}

let phaseCounter = 0

async function measure(
  target: Target,
  sc: Scenario,
  round: number,
  client: Peer,
  cpus: { server?: string },
): Promise<Measurement> {
  const m: Measurement = { target: target.name, scenario: sc.key, round, metrics: {} }
  const server = spawnTs(`${target.name} server`, target.server, {
    cpus: cpus.server,
    nodeFlags: ['--expose-gc', ...serverNodeFlags()],
  })
  const unrelay = client.onMessage((msg: ProgressMessage) => {
    if (msg?.op === 'progress') server.send(msg)
  })
  try {
    const ready = await server.waitFor<ReadyMessage>((msg) => msg?.op === 'ready', 30_000)
    const rooms = await server.request<string[]>({ op: 'rooms', count: sc.rooms }, 30_000)
    const idle0 = sc.idleRss
      ? await server.request<ServerStats>({ op: 'stats', gc: true }, 30_000)
      : undefined
    let phase = ++phaseCounter
    const subscribers = sc.rooms * sc.perRoom
    const budgetMs = 15_000 + subscribers * 5
    m.connect = await client.request<ConnectResult>(
      {
        op: 'connect',
        phase,
        adapter: target.adapter,
        url: ready.url,
        token: ready.token,
        rooms,
        perRoom: sc.perRoom,
        concurrency: 100,
        timeoutMs: 15_000,
        budgetMs,
        progressMs: sc.plan.mode === 'flood' ? 2 : undefined,
        settleTimeoutMs: SETTLE_TIMEOUT_MS,
      },
      budgetMs + SETTLE_TIMEOUT_MS + 30_000,
    )
    if (m.connect.opened === 0) throw new Error(`no subscriber connected: ${m.connect.firstError}`)
    if (m.connect.unsettled > 0)
      throw new Error(`${m.connect.unsettled} subscriber(s) unsettled after ${SETTLE_TIMEOUT_MS} ms`)
    if (idle0) {
      // Let connection set-up garbage and socket buffers settle before reading memory.
      await sleep(500)
      const idle1 = await server.request<ServerStats>({ op: 'stats', gc: true }, 30_000)
      m.metrics.rssPerSub = (idle1.rss - idle0.rss) / m.connect.opened / 1024
    }
    let warmed: number[] | undefined
    if (sc.warmup) {
      warmed = await warmUp(sc, { ...sc.warmup, rooms, phase }, server, client)
      phase = ++phaseCounter
      await client.request({ op: 'mark', phase }, 10_000)
    }
    const before = await server.request<ServerStats>({ op: 'stats' }, 10_000)
    const sys0 = systemCounters()
    const run = await server.request<RunResult>(
      { op: 'run', plan: { ...sc.plan, rooms, phase, after: warmed } },
      sc.plan.durationMs + 30_000,
    )
    m.stall = run.stall
    m.gcMaxMs = run.gcMaxMs
    const tally = await client.request<Tally>(
      { op: 'collect', expected: run.sent, timeoutMs: sc.drainMs },
      sc.drainMs + 30_000,
    )
    const after = await server.request<ServerStats>({ op: 'stats' }, 10_000)
    m.sys = systemDelta(sys0, systemCounters())
    if (m.sys && m.sys.totalUs > 0)
      m.otherLoad = Math.max(
        0,
        (m.sys.busyUs - (after.cpuUs - before.cpuUs) - tally.clientCpuUs) / m.sys.totalUs,
      )
    m.tally = tally
    if (tally.delivered > 0) {
      m.metrics.cpu = (after.cpuUs - before.cpuUs) / tally.delivered
      const main = after.mainCpuUs - before.mainCpuUs
      if (Number.isFinite(main) && after.cpuUs > before.cpuUs)
        m.offMain = Math.max(0, 1 - main / (after.cpuUs - before.cpuUs))
      const spanS = (tally.lastAt - tally.firstAt) / 1000
      if (spanS > 0) m.metrics.rate = tally.delivered / spanS
    }
    if (tally.latency.p50 !== null) m.metrics.p50 = tally.latency.p50
    if (tally.latency.p99 !== null) m.metrics.p99 = tally.latency.p99
    if (tally.latency.p999 !== null) m.metrics.p999 = tally.latency.p999
    await client.request({ op: 'close' }, 30_000)
    await server.request({ op: 'end', rooms }, 10_000).catch(() => {})
  } catch (err) {
    m.error = err instanceof Error ? err.message : String(err)
    await client.request({ op: 'close' }, 30_000).catch(() => {})
  } finally {
    unrelay()
    await server.stop()
  }
  return m
}

/** Emits the warm-up on the measured rooms and returns each room's last seq once every subscriber has it. */
async function warmUp(sc: Scenario, plan: Plan, server: Peer, client: Peer): Promise<number[]> {
  const run = await server.request<RunResult>({ op: 'run', plan }, plan.durationMs + 30_000)
  const tally = await client.request<Tally>(
    { op: 'collect', expected: run.sent, timeoutMs: sc.drainMs },
    sc.drainMs + 30_000,
  )
  if (!tally.complete) throw new Error(`warm-up incomplete: ${tally.lost} lost, ${tally.dropped} dropped`)
  return run.sent
}

function median(xs: number[]): number | undefined {
  if (xs.length === 0) return undefined
  const s = [...xs].sort((a, b) => a - b)
  const mid = s.length >> 1
  return s.length % 2 ? s[mid] : (s[mid - 1]! + s[mid]!) / 2
}

function summarizeExactness(ms: Measurement[]): Exactness {
  const e: Exactness = {
    lost: 0,
    repeated: 0,
    reordered: 0,
    extra: 0,
    dropped: 0,
    failedSubscribes: 0,
    incomplete: 0,
  }
  for (const m of ms) {
    if (m.connect) e.failedSubscribes += m.connect.failed
    if (!m.tally) continue
    e.lost += m.tally.lost
    e.repeated += m.tally.repeated
    e.reordered += m.tally.reordered
    e.extra += m.tally.extra
    e.dropped += m.tally.dropped
    if (!m.tally.complete) e.incomplete++
  }
  return e
}

function short(m: Measurement): string {
  if (m.error) return `error: ${m.error}`
  const t = m.tally!
  const parts = Object.entries(m.metrics).map(([k, v]) => `${k}=${Number(v.toPrecision(4))}`)
  const spanUs = (t.lastAt - t.firstAt) * 1000
  parts.push(`delivered=${t.delivered}`, `subs=${t.subscribers}`)
  if (m.connect) parts.push(`settle=${Math.round(m.connect.settleMs)}ms`)
  if (spanUs > 0) parts.push(`client-busy=${Math.round((100 * t.clientCpuUs) / spanUs)}%`)
  if (m.sys?.backlogDrops || m.sys?.retransSegs)
    parts.push(`drops=${m.sys.backlogDrops} retrans=${m.sys.retransSegs}`)
  if (m.otherLoad !== undefined) parts.push(`other-load=${Math.round(100 * m.otherLoad)}%`)
  if (m.stall) parts.push(`stall=${m.stall.wallMs.toFixed(1)}ms(cpu ${m.stall.cpuMs.toFixed(1)})`)
  if (m.gcMaxMs !== undefined) parts.push(`gc-max=${m.gcMaxMs.toFixed(1)}ms`)
  if (m.offMain !== undefined) parts.push(`off-main=${Math.round(100 * m.offMain)}%`)
  if (t.lost || t.repeated || t.reordered || t.extra || t.dropped || !t.complete)
    parts.push(`lost=${t.lost} rep=${t.repeated} reord=${t.reordered} extra=${t.extra} dropped=${t.dropped}`)
  return parts.join(' ')
}

async function main(): Promise<void> {
  const fdLimit = hardFdLimit()
  const full = suite(quick, fdLimit)
  const only = flags.only?.split(',')
  const scenarios = only ? full.scenarios.filter((s) => only.includes(s.key)) : full.scenarios
  const rows = full.rows.filter((r) => scenarios.some((s) => s.key === r.scenario))
  const rounds = flags.rounds ? Math.max(1, Number(flags.rounds) || 1) : full.rounds
  const wanted = flags.targets?.split(',')
  // Read before placement() pins this process, which would shrink what node reports.
  const cores = os.availableParallelism()
  const cpus = placement()
  const targets = TARGETS.filter((t) => available(t) && (!wanted || wanted.includes(t.name)))
  const present = new Set(targets.map((t) => t.name))
  const machine = [
    `machine: ${os.cpus()[0]?.model.trim() ?? 'unknown CPU'}`,
    `${cores} cores`,
    `node ${process.version}`,
    `${os.platform()} ${os.arch()}`,
    cpus.note,
    `fd limit ${fdLimit}`,
    ...(netdevMaxBacklog() ? [`netdev_max_backlog ${netdevMaxBacklog()}`] : []),
  ].join(' · ')
  process.stderr.write(`${machine}\n`)
  process.stderr.write(
    `targets: ${targets.map((t) => t.name).join(', ')}${present.has('flowcast') ? '' : ' (flowcast: bench/servers/flowcast.ts not written yet)'}; ${rounds} round(s)${quick ? ', quick' : ''}\n`,
  )

  const clientFile = fileURLToPath(new URL('./client.ts', import.meta.url))
  let client = spawnTs('client', clientFile, { cpus: cpus.client })
  const results: Measurement[] = []
  let skipped = 0
  outer: for (let round = 0; round < rounds; round++) {
    for (const sc of scenarios) {
      // Rotating the order each round keeps any one target from always running first or last.
      const order = targets.map((_, i) => targets[(i + round) % targets.length]!)
      for (const target of order) {
        if (clock() - startedAt > BUDGET_MS) {
          skipped = rounds * scenarios.length * targets.length - results.length
          break outer
        }
        if (!client.child.connected) client = spawnTs('client', clientFile, { cpus: cpus.client })
        const m = await measure(target, sc, round, client, cpus)
        results.push(m)
        process.stderr.write(
          `  round ${round + 1} ${sc.key.padEnd(10)} ${target.name.padEnd(9)} ${short(m)}\n`,
        )
      }
    }
  }
  await client.stop()

  const value = (row: Row, t: TargetName) =>
    median(
      results
        .filter((m) => m.target === t && m.scenario === row.scenario && m.metrics[row.metric] !== undefined)
        .map((m) => m.metrics[row.metric]!),
    )
  const exactness = new Map(
    targets.map((t) => [t.name, summarizeExactness(results.filter((m) => m.target === t.name))]),
  )
  const table = renderTable({ rows, value, present, exactness })
  const command = quick ? 'npm run bench:quick' : 'npm run bench'
  const errors = results.filter((m) => m.error)
  const loads = results.flatMap((m) => (m.otherLoad === undefined ? [] : [m.otherLoad]))
  const drops = results.reduce((n, m) => n + (m.sys?.backlogDrops ?? 0), 0)
  const retrans = results.reduce((n, m) => n + (m.sys?.retransSegs ?? 0), 0)
  const noise = loads.length
    ? `other processes used a median ${Math.round(100 * median(loads)!)}% (max ${Math.round(100 * Math.max(...loads))}%) of the machine's CPU during measurements; loopback drops ${drops}, TCP retransmissions ${retrans} (system-wide). Above ~5% or with retransmissions, read throughput and latency tails as noisy; CPU per event holds up.`
    : ''
  // A latency goal holds "in every round", so its ratio is shown per round beside the median.
  const perRound = rows
    .filter((row) => row.metric === 'p99' && row.goal)
    .flatMap((row) => {
      // A tail on this shared machine is mostly the scheduler's or the kernel's (a pinned server
      // descheduled, a loopback retransmission's 200 ms timeout): each round shows both beside it.
      const ratios = Array.from({ length: rounds }, (_, round) => {
        const at = (t: TargetName) =>
          results.find((m) => m.target === t && m.scenario === row.scenario && m.round === round)
        const fc = at('flowcast')
        const ws = at('ws')
        const v = (m: Measurement | undefined) => m?.metrics[row.metric]
        const why = (m: Measurement) =>
          [
            `${Number(v(m)!.toPrecision(3))} ms`,
            `other-load ${Math.round(100 * (m.otherLoad ?? 0))}%`,
            `retrans ${m.sys?.retransSegs ?? 'n/a'}`,
            ...(m.stall ? [`stall ${m.stall.wallMs.toFixed(0)} ms (cpu ${m.stall.cpuMs.toFixed(0)})`] : []),
            ...(m.gcMaxMs !== undefined ? [`gc ${m.gcMaxMs.toFixed(0)} ms`] : []),
          ].join(', ')
        const f = v(fc)
        const w = v(ws)
        return f !== undefined && w !== undefined && w > 0
          ? `${(f / w).toFixed(2)}x (flowcast ${why(fc!)}; ws ${why(ws!)})`
          : 'n/a'
      })
      return present.has('flowcast') && present.has('ws')
        ? [`${row.label}, flowcast/ws per round (goal ${row.goal}): ${ratios.join(' · ')}`]
        : []
    })
  const notes = [
    `${command} · ${rounds} round(s), medians · ${((clock() - startedAt) / 1000).toFixed(0)} s`,
    ...perRound,
    ...(noise ? [noise] : []),
    ...(present.has('flowcast') ? [] : ['flowcast: n/a until bench/servers/flowcast.ts exists']),
    ...(skipped ? [`${skipped} measurement(s) skipped: time budget of ${BUDGET_MS / 1000} s reached`] : []),
    ...errors.map((m) => `error in round ${m.round + 1} ${m.scenario} ${m.target}: ${m.error}`),
  ]
  const out = [machine, '', table, '', ...notes].join('\n')
  process.stdout.write(`\n${out}\n`)

  const dir = fileURLToPath(new URL('./results/', import.meta.url))
  try {
    mkdirSync(dir, { recursive: true })
    writeFileSync(`${dir}latest.md`, `${out}\n`)
    writeFileSync(`${dir}latest.json`, `${JSON.stringify({ machine, quick, rounds, results }, null, 2)}\n`)
  } catch (err) {
    process.stderr.write(`could not write bench/results: ${(err as Error).message}\n`)
  }
  const exact = [...exactness.values()].every(
    (e) => e.lost + e.repeated + e.reordered + e.extra + e.dropped + e.failedSubscribes + e.incomplete === 0,
  )
  process.exitCode = exact && errors.length === 0 ? 0 : 1
}

await main()
