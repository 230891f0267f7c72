/**
 * The scenarios of issue 8 and the rows of the table they feed. --quick keeps every scenario but
 * shortens phases and shrinks the big subscriber counts, so it exercises the same code paths in
 * well under two minutes.
 */
import type { Plan } from './protocol.ts'

export type Metric = 'rate' | 'cpu' | 'p50' | 'p99' | 'p999' | 'rssPerSub'

export interface Scenario {
  key: string
  rooms: number
  perRoom: number
  plan: Omit<Plan, 'rooms' | 'phase'>
  /** Emitted before the measured window, the same for every target, so JIT-compiled code is measured. */
  warmup?: Omit<Plan, 'rooms' | 'phase'>
  /** Measure server RSS before and after the subscribers connect, before anything is emitted. */
  idleRss?: boolean
  /** How long the client may take to receive everything once emission has stopped. */
  drainMs: number
}

export interface Row {
  scenario: string
  metric: Metric
  label: string
  /** The target for the flowcast ratios, shown beside them. */
  goal?: string
}

export interface Suite {
  scenarios: Scenario[]
  rows: Row[]
  rounds: number
}

const FLOOD_PER_TURN = 20
// Deliveries in flight per subscriber during flood; small enough that the tail after emission
// stops is short, large enough that the client's 2 ms progress reports never starve the server.
const FLOOD_WINDOW_EVENTS = 128
const MANY = 1_000_000
/** Events a low-rate scenario's warm-up emits (all rooms together), within the caps below. */
const WARM_EVENTS = 5_000
const WARM_MAX_MS = 10_000
const WARM_MAX_QUICK_MS = 4_000

/** `fdLimit` is the per-process hard limit; the big subscriber counts are cut to fit under it. */
export function suite(quick: boolean, fdLimit: number): Suite {
  const capped = (n: number) => Math.max(100, Math.min(n, fdLimit - 256))
  const floodMs = quick ? 1000 : 3000
  const pacedMs = quick ? 1500 : 4000
  // A fresh server per measurement starts cold; this much of the scenario's own traffic first
  // takes its hot paths through V8's optimising tiers before the CPU readings.
  const warmMs = quick ? 1000 : 2000
  // V8 optimises a function after enough calls, and the per-event paths (the engine's append, the
  // contract check, the pacer) run once per event: at burst-100's 600 events/s, 2 s left them still
  // compiling in the measured window (16-24% of flowcast's CPU there was off its main thread, the
  // concurrent compiler's). A low-rate scenario warms up for WARM_EVENTS of its events instead.
  const warmFor = (eventsPerS: number) =>
    Math.min(quick ? WARM_MAX_QUICK_MS : WARM_MAX_MS, Math.max(warmMs, (1000 * WARM_EVENTS) / eventsPerS))
  const idleN = capped(quick ? 2_000 : 10_000)
  const roomCount = Math.floor(capped(quick ? 2_000 : 10_000) / 10)

  const flood = (n: number, perTurn = FLOOD_PER_TURN): Scenario => {
    const plan = (ms: number): Scenario['plan'] => ({
      mode: 'flood',
      maxEvents: MANY,
      durationMs: ms,
      perTurn,
      subscribersPerRoom: n,
      window: FLOOD_WINDOW_EVENTS * n,
    })
    return {
      key: perTurn === 1 ? `flood-turn-${n}` : `flood-${n}`,
      rooms: 1,
      perRoom: n,
      plan: plan(floodMs),
      warmup: plan(warmMs),
      drainMs: 20_000,
    }
  }
  // Timetabled plans: events are capped by count; durationMs leaves the pacer 2 s to catch up.
  const pacedPlan = (rate: number, ms: number): Scenario['plan'] => ({
    mode: 'paced',
    rate,
    maxEvents: Math.ceil((rate * ms) / 1000),
    durationMs: ms + 2000,
  })
  const burstPlan = (ms: number): Scenario['plan'] => ({
    mode: 'burst',
    burstSize: 30,
    burstSpanMs: 3,
    burstGapMs: 50,
    maxEvents: 30 * Math.floor(ms / 50),
    durationMs: ms + 2000,
  })
  const paced = (n: number, rate: number): Scenario => ({
    key: `paced-${n}`,
    rooms: 1,
    perRoom: n,
    plan: pacedPlan(rate, pacedMs),
    warmup: pacedPlan(rate, warmFor(rate)),
    drainMs: 10_000,
  })

  const manyRooms = (key: string, rooms: number, perRoom: number): Scenario => ({
    key,
    rooms,
    perRoom,
    plan: pacedPlan(5, pacedMs),
    warmup: pacedPlan(5, warmMs),
    drainMs: 15_000,
  })

  const scenarios: Scenario[] = [
    flood(100),
    flood(1000),
    // One event per event-loop turn: nothing to batch, so this is per-delivery cost under load.
    flood(100, 1),
    paced(100, 600),
    paced(1000, 60),
    {
      key: 'burst-100',
      rooms: 1,
      perRoom: 100,
      plan: burstPlan(pacedMs),
      // 30 events every 50 ms.
      warmup: burstPlan(warmFor(600)),
      drainMs: 10_000,
    },
    {
      key: 'idle-rss',
      rooms: 1,
      perRoom: idleN,
      idleRss: true,
      // A few events after the memory reading, to prove every idle subscriber was really live.
      plan: { mode: 'paced', rate: 20, maxEvents: 3, durationMs: 2000 },
      drainMs: 15_000,
    },
    manyRooms('rooms', roomCount, 10),
    manyRooms('rooms-1', roomCount, 1),
  ]

  const rows: Row[] = [
    { scenario: 'flood-100', metric: 'rate', label: 'flood N=100: delivered events/s (higher is better)' },
    {
      scenario: 'flood-100',
      metric: 'cpu',
      label: 'flood N=100: server CPU µs per delivered event',
      goal: '<= 1.1 ws-batch',
    },
    {
      scenario: 'flood-turn-100',
      metric: 'rate',
      label: 'flood N=100, 1 event per turn: delivered events/s',
    },
    {
      scenario: 'flood-turn-100',
      metric: 'cpu',
      label: 'flood N=100, 1 event per turn: server CPU µs per delivered event',
      goal: '<= 1.1 ws-batch',
    },
    {
      scenario: 'flood-1000',
      metric: 'rate',
      label: 'flood N=1000: delivered events/s (higher is better)',
      goal: '>= 1.5 ws, >= 2 socket.io',
    },
    {
      scenario: 'flood-1000',
      metric: 'cpu',
      label: 'flood N=1000: server CPU µs per delivered event',
      goal: '<= 1.1 ws-batch',
    },
    { scenario: 'paced-100', metric: 'p50', label: 'paced N=100 @600/s: p50 latency ms' },
    { scenario: 'paced-100', metric: 'p99', label: 'paced N=100 @600/s: p99 latency ms', goal: '<= 1.1 ws' },
    { scenario: 'paced-100', metric: 'p999', label: 'paced N=100 @600/s: p999 latency ms' },
    {
      scenario: 'paced-100',
      metric: 'cpu',
      label: 'paced N=100 @600/s: server CPU µs/event',
      goal: '<= 1.2 ws',
    },
    { scenario: 'paced-1000', metric: 'p50', label: 'paced N=1000 @60/s: p50 latency ms' },
    { scenario: 'paced-1000', metric: 'p99', label: 'paced N=1000 @60/s: p99 latency ms', goal: '<= 1.1 ws' },
    { scenario: 'paced-1000', metric: 'p999', label: 'paced N=1000 @60/s: p999 latency ms' },
    {
      scenario: 'paced-1000',
      metric: 'cpu',
      label: 'paced N=1000 @60/s: server CPU µs/event',
      goal: '<= 1.2 ws',
    },
    {
      scenario: 'burst-100',
      metric: 'cpu',
      label: 'burst N=100 (30 ev in 3 ms, every 50 ms): server CPU µs/event',
      goal: '<= 0.25 ws, <= 1.1 ws-batch',
    },
    { scenario: 'burst-100', metric: 'p99', label: 'burst N=100: p99 latency ms' },
    {
      scenario: 'idle-rss',
      metric: 'rssPerSub',
      label: `idle RSS per subscriber, N=${idleN}: KB`,
      goal: '<= 1.2 ws',
    },
    {
      scenario: 'rooms',
      metric: 'cpu',
      label: `rooms ${roomCount} x 10 @5/s each: server CPU µs/event`,
      goal: '<= 1.05 ws',
    },
    {
      scenario: 'rooms',
      metric: 'p99',
      label: `rooms ${roomCount} x 10 @5/s each: p99 latency ms`,
      goal: '<= 1.2 ws',
    },
    {
      scenario: 'rooms-1',
      metric: 'cpu',
      label: `rooms ${roomCount} x 1 @5/s each: server CPU µs/event`,
      goal: '<= 1.15 ws',
    },
  ]

  return { scenarios, rows, rounds: quick ? 1 : 3 }
}
