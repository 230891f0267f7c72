/**
 * The contract between the three kinds of bench process: the orchestrator (run.ts), one server
 * host per target (servers/*.ts, via servers/host.ts) and the client process (client.ts). They
 * talk over Node's IPC channel only, so no bench traffic shares the sockets being measured.
 */

/** Wall-clock milliseconds with sub-µs resolution that agree across processes on one machine. */
export function clock(): number {
  return performance.timeOrigin + performance.now()
}

/** What every bench event carries as its `data`: the emit time and padding to ~100-byte frames. */
export interface EventData {
  t: number
  p: string
}

// Sized so the raw ws frame `{"type":"event","executionId":"r0","seq":..,"ts":..,"data":{..}}` is
// about 100 bytes; the other targets wrap the same data in envelopes of similar size.
const PAD = 'abcdefghijklmn'

export function eventData(): EventData {
  return { t: clock(), p: PAD }
}

export type Mode = 'flood' | 'paced' | 'burst'

/** One emission phase; every room gets seq 1, 2, ... in order. */
export interface Plan {
  mode: Mode
  rooms: string[]
  /** Hard cap on events per room; emission also stops at durationMs, whichever comes first. */
  maxEvents: number
  durationMs: number
  /** paced: events per second per room. */
  rate?: number
  /** flood: events per room emitted between two yields to the event loop (the size of a burst). */
  perTurn?: number
  /** flood: subscribers per room, to turn events sent into deliveries owed. */
  subscribersPerRoom?: number
  /** flood: deliveries allowed in flight beyond what the client process has reported. */
  window?: number
  /** burst: events per burst, the span they are spread over, and the pause between bursts. */
  burstSize?: number
  burstSpanMs?: number
  burstGapMs?: number
  /** Tags progress reports so a late report of an earlier phase is ignored. */
  phase: number
  /** Last seq each room already has (from a warm-up), so this phase goes on from the next; none = 0. */
  after?: number[]
}

export interface RunResult {
  /** Last seq emitted per room, in plan.rooms order (= events emitted, when nothing came before). */
  sent: number[]
  ms: number
  /**
   * The longest wait of a timetabled phase (paced, burst, rooms) past its due time, wall ms, and
   * the process CPU ms spent inside that wait: CPU near the wall time means the server's own work
   * (or GC) held its loop; CPU near 0 means the machine did not run it. Absent for flood.
   */
  stall?: { wallMs: number; cpuMs: number }
  /** The longest GC pause during the phase, ms. */
  gcMaxMs?: number
}

export interface ServerStats {
  /** user + system CPU of the whole server process, µs since it started. */
  cpuUs: number
  /** The main thread's own share of cpuUs (NaN off Linux): the rest is GC helpers, the compiler, libuv's pool. */
  mainCpuUs: number
  rss: number
  heapUsed: number
}

export type HostRequest =
  | { op: 'rooms'; count: number }
  | { op: 'run'; plan: Plan }
  | { op: 'stats'; gc?: boolean }
  | { op: 'end'; rooms: string[] }

/** Which wire protocol a client adapter speaks. */
export type AdapterName = 'ws' | 'socket.io' | 'flowcast'

export interface ConnectRequest {
  op: 'connect'
  phase: number
  adapter: AdapterName
  url: string
  token?: string
  rooms: string[]
  perRoom: number
  concurrency: number
  /** Per subscriber: from opening the socket to the server confirming the subscription. */
  timeoutMs: number
  /** For the whole connect step; subscribers not opened by then count as failed. */
  budgetMs: number
  /** When set, the client reports its delivery count this often (flood pacing). */
  progressMs?: number
  /** Bound on the wait, after the last join, for the server's join-time work (flowcast: presence). */
  settleTimeoutMs: number
}

export interface ConnectResult {
  opened: number
  failed: number
  ms: number
  firstError?: string
  /** From the last join to every subscriber's target saying its join-time work is done. */
  settleMs: number
  /** Subscribers still unsettled when settleTimeoutMs ran out. */
  unsettled: number
}

/** Starts the measured window: the client forgets deliveries and latencies so far, not seqs. */
export interface MarkRequest {
  op: 'mark'
  /** The measured phase's tag for progress reports. */
  phase: number
}

export interface CollectRequest {
  op: 'collect'
  /** Events each subscriber of rooms[i] must end up with (the host's RunResult.sent). */
  expected: number[]
  timeoutMs: number
}

export interface Tally {
  subscribers: number
  delivered: number
  lost: number
  repeated: number
  reordered: number
  /** Seqs beyond what was sent, or frames whose seq was not a number. */
  extra: number
  /** Subscribers whose socket closed or errored during the phase. */
  dropped: number
  firstAt: number
  lastAt: number
  complete: boolean
  /** CPU the client process used from the mark (the end of connect or warm-up) to the end of collect: shows when the
   * subscribers rather than the server were the bottleneck. */
  clientCpuUs: number
  /** Milliseconds from emit to arrival over all deliveries; null when nothing arrived. */
  latency: { count: number; p50: number | null; p99: number | null; p999: number | null; max: number | null }
}

export type ClientRequest = ConnectRequest | CollectRequest | MarkRequest | { op: 'close' }

/** Envelope of every request and reply on an IPC channel. */
export interface Envelope {
  rid: number
  body: unknown
}
export interface Reply {
  rid: number
  ok: boolean
  result?: unknown
  error?: string
}

/** Unsolicited messages: readiness of a host, progress of the client. */
export interface ReadyMessage {
  op: 'ready'
  url: string
  token?: string
}
export interface ProgressMessage {
  op: 'progress'
  phase: number
  delivered: number
}
