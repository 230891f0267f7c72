/**
 * The execution registry: which flows this server runs, the executions it started, the cap on
 * live ones, and when finished ones are evicted (through the broker, which holds their logs and
 * results): after their TTL, or at once, oldest finished first, when more than
 * maxFinishedExecutions have finished. It writes the one log line per execution start and end, opens
 * and ends the executions' spans, and refuses new executions once the node drains.
 */

import type { TriggerFlow } from '@flowcast/flows'
import { type ExecutionStatus, FlowcastError, isTerminal } from '@flowcast/protocol'
import type { Context } from '@opentelemetry/api'
import type { Logger } from 'pino'
import type { Broker, ExecutionInfo } from './brokers/broker.ts'
import type { ServerLimits } from './options.ts'
import { ExecutionSpans } from './tracing.ts'

interface Held {
  status: ExecutionStatus
  /** Known for executions started through `start`; a status seen first has neither. */
  flow?: string
  startedAt?: number
  /** When it finished (performance.now(), monotonic): its TTL runs from here. */
  finishedAt?: number
}

type RegistryLimits = Pick<
  ServerLimits,
  | 'maxLiveExecutions'
  | 'finishedTtlMs'
  | 'maxFinishedExecutions'
  | 'retainedEvents'
  | 'retainedBytes'
  | 'maxItemBytes'
>

/** Executions started by one server, and the flows it may start. */
export class ExecutionRegistry {
  readonly #broker: Broker
  readonly #flows = new Map<string, TriggerFlow<any>>()
  readonly #held = new Map<string, Held>()
  /** The finished ones among them, finished longest ago first (a Map keeps insertion order). */
  readonly #finished = new Map<string, Held>()
  /**
   * One timer for every finished execution's TTL, due when the oldest one's is: all share one TTL,
   * so they expire in the order they finished. A timer per execution cost a Timeout object kept
   * for the whole TTL by each of up to maxFinishedExecutions of them (issue 18).
   */
  #sweepTimer: ReturnType<typeof setTimeout> | undefined
  readonly #limits: RegistryLimits
  readonly #offStatus: () => void
  /** Starts in flight, counted against the cap before they show up as held. */
  #starting = 0
  /** Held executions whose status is not final, kept as statuses change (no scan per start). */
  #live = 0
  #draining = false
  /** Called whenever an execution ends or a start settles, for `idle()`. */
  readonly #idleWaiters = new Set<() => void>()
  readonly #spans = new ExecutionSpans()

  readonly #logger: Logger | undefined

  constructor(broker: Broker, flows: TriggerFlow<any>[], limits: RegistryLimits, logger?: Logger) {
    this.#broker = broker
    this.#logger = logger
    this.#limits = limits
    for (const f of flows) {
      if (this.#flows.has(f.name)) throw new FlowcastError('bad_request', `two flows are named "${f.name}"`)
      this.#flows.set(f.name, f)
    }
    this.#offStatus = broker.onStatus((id, status) => this.#onStatus(id, status))
  }

  /** The flows this server runs. */
  flows(): TriggerFlow<any>[] {
    return [...this.#flows.values()]
  }

  flow(name: string): TriggerFlow<any> | undefined {
    return this.#flows.get(name)
  }

  /** Executions held that have not finished. */
  get live(): number {
    return this.#live
  }

  /** Held executions by status, for metrics. */
  byStatus(): Partial<Record<ExecutionStatus, number>> {
    const out: Partial<Record<ExecutionStatus, number>> = {}
    for (const h of this.#held.values()) out[h.status] = (out[h.status] ?? 0) + 1
    return out
  }

  /** True once `drain()` was called: new executions are refused with `draining`. */
  get draining(): boolean {
    return this.#draining
  }

  /** Refuses every new execution from now on (503 `draining`); running ones go on. */
  drain(): void {
    this.#draining = true
  }

  /** Resolves once no execution started here is live and no start is in flight. */
  idle(): Promise<void> {
    return new Promise((resolve) => {
      const check = () => {
        if (this.live > 0 || this.#starting > 0) return
        this.#idleWaiters.delete(check)
        resolve()
      }
      this.#idleWaiters.add(check)
      check()
    })
  }

  /** The ids of the live executions started here. */
  liveIds(): string[] {
    return [...this.#held].flatMap(([id, h]) => (isTerminal(h.status) ? [] : [id]))
  }

  /**
   * Starts `flowName` with `input`, its span under `trace` (the request's). Throws draining,
   * not_found (unknown flow), invalid_input (with the contract's issues as details) or
   * too_many_executions.
   */
  async start(flowName: string, input: unknown, trace?: Context): Promise<ExecutionInfo> {
    if (this.#draining)
      throw new FlowcastError('draining', 'this node is shutting down: start the execution on another node')
    const flow = this.#flows.get(flowName)
    if (!flow) throw new FlowcastError('not_found', `no flow named "${flowName}"`)
    const schema = flow.contract.input
    if (schema) {
      const parsed = schema.safeParse(input)
      if (!parsed.success) {
        const issues = parsed.error.issues.map((i: { path: PropertyKey[]; message: string }) => ({
          path: i.path.map(String),
          message: i.message,
        }))
        const first = issues[0]
        throw new FlowcastError(
          'invalid_input',
          `flow "${flowName}": input does not match its contract at ${first?.path.join('.') || '(root)'}: ${first?.message ?? 'invalid'}`,
          { details: issues },
        )
      }
    }
    if (this.live + this.#starting >= this.#limits.maxLiveExecutions) {
      throw new FlowcastError(
        'too_many_executions',
        `at most ${this.#limits.maxLiveExecutions} executions may run at once`,
      )
    }
    this.#starting++
    try {
      const startedAt = Date.now()
      const info = await this.#broker.start(flow, input, {
        retention: { maxEvents: this.#limits.retainedEvents, maxBytes: this.#limits.retainedBytes },
        maxItemBytes: this.#limits.maxItemBytes,
        aroundChunk: this.#spans.runner(flowName, trace),
      })
      const id = info.executionId
      this.#spans.open(id, flowName, trace)
      this.#logger?.info({ executionId: id, flow: flowName }, 'execution started')
      // Status changes may have been told before we knew the id; the info is current.
      const held = this.#hold(id, info.status)
      held.flow = flowName
      held.startedAt = startedAt
      const now = await this.#broker.info(id)
      // An end told before the flow was known is logged now, with it.
      if (held.finishedAt !== undefined && isTerminal(held.status)) this.#ended(id, held)
      this.#onStatus(id, now?.status ?? info.status)
      return now ?? info
    } finally {
      this.#starting--
      for (const check of [...this.#idleWaiters]) check()
    }
  }

  /** Ends `executionId` (running here) as failed with `error`; false when it has already ended. */
  terminate(executionId: string, error: FlowcastError): boolean {
    return this.#broker.terminate(executionId, error)
  }

  /** Forgets a live execution given to another node (a drain's hand-over): it no longer counts here. */
  release(executionId: string): void {
    const held = this.#held.get(executionId)
    if (!held) return
    if (!isTerminal(held.status)) this.#live--
    this.#held.delete(executionId)
    this.#finished.delete(executionId)
    this.#spans.end(executionId, held.status)
    for (const check of [...this.#idleWaiters]) check()
  }

  /** Stops every eviction timer (the broker is closed by its owner). */
  close(): void {
    this.#offStatus()
    this.#spans.close()
    clearTimeout(this.#sweepTimer)
    this.#sweepTimer = undefined
    this.#held.clear()
    this.#finished.clear()
    this.#live = 0
  }

  /** The held entry of `id`, made (and counted) with `status` when there is none. */
  #hold(id: string, status: ExecutionStatus): Held {
    let held = this.#held.get(id)
    if (!held) {
      held = { status }
      this.#held.set(id, held)
      if (!isTerminal(status)) this.#live++
    }
    return held
  }

  #onStatus(id: string, status: ExecutionStatus): void {
    const held = this.#hold(id, status)
    this.#live += Number(!isTerminal(status)) - Number(!isTerminal(held.status))
    held.status = status
    if (isTerminal(status) && held.finishedAt === undefined) {
      if (held.flow !== undefined) this.#ended(id, held)
      for (const check of [...this.#idleWaiters]) check()
      held.finishedAt = performance.now()
      this.#finished.set(id, held)
      if (!this.#sweepTimer) this.#armSweep(this.#limits.finishedTtlMs)
      // One more finished than allowed: the oldest goes now, as if its TTL had passed.
      if (this.#finished.size > this.#limits.maxFinishedExecutions) {
        const [oldestId, oldest] = this.#finished.entries().next().value!
        this.#evict(oldestId, oldest)
      }
    }
  }

  /** Evicts every finished execution whose TTL has passed, then waits for the next one's. */
  #sweep(): void {
    this.#sweepTimer = undefined
    const now = performance.now()
    for (const [id, held] of this.#finished) {
      const dueIn = held.finishedAt! + this.#limits.finishedTtlMs - now
      if (dueIn > 0) {
        this.#armSweep(dueIn)
        return
      }
      this.#evict(id, held)
    }
  }

  #armSweep(ms: number): void {
    this.#sweepTimer = setTimeout(() => this.#sweep(), ms)
    // Eviction must never keep a process alive on its own.
    this.#sweepTimer.unref()
  }

  /** Forgets `id` and has the broker evict it (its rooms end, later reads get not_found). */
  #evict(id: string, held: Held): void {
    if (this.#held.get(id) !== held) return
    if (!isTerminal(held.status)) this.#live--
    this.#held.delete(id)
    this.#finished.delete(id)
    void this.#broker.evict(id)
  }

  /** The end line of an execution (flow, status, duration; a failure's code and message) and its span. */
  #ended(id: string, held: Held): void {
    const durationMs = held.startedAt === undefined ? undefined : Date.now() - held.startedAt
    const status = held.status
    // Only a failure's or a cancel's line carries the error: a completed one needs no read.
    if (status !== 'failed' && status !== 'cancelled') {
      this.#spans.end(id, status)
      this.#logger?.info({ executionId: id, flow: held.flow, status, durationMs }, 'execution finished')
      return
    }
    void this.#broker.info(id).then(
      (info) => {
        const error = info?.error
        this.#spans.end(id, status, error)
        const line = { executionId: id, flow: held.flow, status, durationMs, ...(error ? { error } : {}) }
        if (status === 'failed') this.#logger?.warn(line, 'execution finished')
        else this.#logger?.info(line, 'execution finished')
      },
      () => this.#spans.end(id, status),
    )
  }
}
