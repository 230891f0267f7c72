/**
 * Prometheus metrics of one server, in a registry of its own so that servers in one process
 * never share or clash. Hot-path counters are bumped once per flush, not once per socket.
 */

import type { RetentionBudget } from '@flowcast/flows'
import type { ExecutionStatus } from '@flowcast/protocol'
import { Counter, Gauge, Registry } from 'prom-client'

/** Live numbers the gauges read when scraped. */
export interface MetricsSources {
  connections(): number
  rooms(): number
  subscribers(): number
  executionsByStatus(): Partial<Record<ExecutionStatus, number>>
  /** Outbound bytes queued right now over every socket. */
  queuedBytes(): number
  /** The most bytes ever found queued on one socket. */
  queuedPeak(): number
  /** Runtime-stream bytes held in memory for executions' logs. */
  retainedBytes(): number
  /** Unfinished executions no node holds whose flow this node lacks (Redis broker; else 0). */
  unclaimable(): number
  /** The node's retention budget, when the server owns its broker. */
  budget?: RetentionBudget | undefined
}

/**
 * A counter bumped on the fan-out hot path: a plain number added to per call, folded into its
 * Prometheus counter when scraped. prom-client's `inc` allocates a labels object and a result
 * per call and hashes the labels; a room flush made four such calls per event.
 */
export class HotCounter {
  #pending = 0

  constructor(name: string, help: string, registers: Registry[]) {
    const self = this
    new Counter({
      name,
      help,
      registers,
      collect() {
        if (self.#pending > 0) this.inc(self.#pending)
        self.#pending = 0
      },
    })
  }

  /** Adds `n` (1 when omitted); never negative. */
  inc(n = 1): void {
    this.#pending += n
  }
}

/** One server's metrics. */
export class ServerMetrics {
  readonly registry = new Registry()
  readonly eventsIn: HotCounter
  readonly eventsOut: HotCounter
  readonly framesSent: HotCounter
  readonly bytesSent: HotCounter
  readonly slowPauses: Counter
  readonly slowCloses: Counter
  readonly gaps: Counter
  readonly badFrames: Counter
  readonly authFailures: Counter<'transport'>
  readonly rateLimited: Counter
  readonly connectionsRefused: Counter<'reason'>

  constructor(sources: MetricsSources) {
    const registers = [this.registry]
    const gauge = (name: string, help: string, read: () => number) =>
      new Gauge({
        name,
        help,
        registers,
        collect() {
          this.set(read())
        },
      })
    gauge('flowcast_connections', 'Open WebSocket connections', sources.connections)
    gauge('flowcast_rooms', 'Rooms (executions watched on this node)', sources.rooms)
    gauge('flowcast_subscribers', 'Subscriptions over WebSocket and SSE', sources.subscribers)
    gauge('flowcast_socket_queued_bytes', 'Outbound bytes queued over all sockets', sources.queuedBytes)
    gauge(
      'flowcast_socket_queued_bytes_peak',
      'Most outbound bytes ever queued on one socket (bounded by the high-water mark plus one frame)',
      sources.queuedPeak,
    )
    gauge(
      'flowcast_retained_bytes',
      'Runtime-stream bytes held in memory for executions on this node',
      sources.retainedBytes,
    )
    gauge(
      'flowcast_heap_used_bytes',
      'V8 heap in use (process.memoryUsage().heapUsed)',
      () => process.memoryUsage().heapUsed,
    )
    const budget = sources.budget
    if (budget) {
      gauge(
        'flowcast_retained_finished_bytes',
        'Runtime-stream bytes held for executions whose stream has ended (bounded by finishedRetainedBytes)',
        () => budget.closedBytes,
      )
      gauge(
        'flowcast_retained_budget_bytes',
        'The node budget of retained bytes (nodeRetainedBytes)',
        () => budget.maxBytes,
      )
      gauge(
        'flowcast_budget_dropped_logs',
        'Ended executions whose whole log the node budget took (since start)',
        () => budget.closedLogsDropped,
      )
      gauge(
        'flowcast_budget_dropped_events',
        "Running executions' events the node budget took (since start)",
        () => budget.entriesDropped,
      )
    }
    gauge(
      'flowcast_executions_unclaimable',
      'Executions no node holds (their node died or drained) of a flow this node does not have: they wait, never dropped, for a node that has it',
      sources.unclaimable,
    )
    gauge('flowcast_rss_bytes', 'Resident set size of the process', () => process.memoryUsage.rss())
    new Gauge({
      name: 'flowcast_executions',
      help: 'Executions held by this node, by status',
      labelNames: ['status'],
      registers,
      collect() {
        this.reset()
        for (const [status, n] of Object.entries(sources.executionsByStatus())) this.set({ status }, n ?? 0)
      },
    })
    const counter = (name: string, help: string) => new Counter({ name, help, registers })
    const hot = (name: string, help: string) => new HotCounter(name, help, registers)
    this.eventsIn = hot('flowcast_events_in_total', 'Runtime-stream events that reached a room')
    this.eventsOut = hot('flowcast_events_out_total', 'Events delivered to subscribers (one per subscriber)')
    this.framesSent = hot('flowcast_frames_sent_total', 'Frames sent to subscribers')
    this.bytesSent = hot('flowcast_bytes_sent_total', 'Bytes of frames sent to subscribers')
    this.slowPauses = counter('flowcast_slow_consumer_pauses_total', 'Live delivery paused for a slow socket')
    this.slowCloses = counter('flowcast_slow_consumer_closes_total', 'Sockets closed with 4008 (too slow)')
    this.gaps = counter('flowcast_gaps_total', 'Gap frames sent to subscribers behind retention')
    this.badFrames = counter('flowcast_bad_frames_total', 'Inbound frames answered with an error')
    this.authFailures = new Counter({
      name: 'flowcast_auth_failures_total',
      help: 'Refused credentials: missing, forged or expired (transport: http, upgrade, ws)',
      labelNames: ['transport'],
      registers,
    })
    this.rateLimited = counter(
      'flowcast_rate_limited_total',
      'Inbound frames refused by the per-socket rate limit',
    )
    this.connectionsRefused = new Counter({
      name: 'flowcast_connections_refused_total',
      help: 'WebSocket upgrades refused before auth (reason: origin, per_address)',
      labelNames: ['reason'],
      registers,
    })
  }

  /** The Prometheus text exposition. */
  text(): Promise<string> {
    return this.registry.metrics()
  }
}
