/** The server's options and the defaults behind every limit, resolved once per server. */
import type { TriggerFlow } from '../flows/index.ts'
import type { Broker } from './broker.ts'

export interface ServerLimits {
  /** Largest inbound WebSocket frame in bytes; bigger ones close the socket with 1009. */
  maxPayload: number
  /** Subscriptions one socket may hold at once. */
  maxSubscriptions: number
  /** Commands one socket may send per second (token bucket, burst = one second's worth). */
  commandsPerSecond: number
  /** Executions that may run (not finished) on this node at once; more answer 429. */
  maxLiveExecutions: number
  /** How long a finished execution, its result and its retained events are kept. */
  finishedTtlMs: number
  /** Retained runtime-stream events per execution. */
  retainedEvents: number
  /** Retained runtime-stream bytes (encoded JSON) per execution. */
  retainedBytes: number
  /** Outbound bytes queued on one socket above which live delivery to it pauses. */
  highWaterMark: number
  /** Events per catch-up (and replay) frame. */
  catchUpBatch: number
  /** A socket that stays above the high-water mark this long is closed with 4008. */
  slowConsumerTimeoutMs: number
  /** How often paused sockets are checked for drain. */
  drainCheckMs: number
  /** Server ping interval; a socket that misses one pong is terminated. */
  heartbeatMs: number
  /** Least time between two presence frames of one room. */
  presenceIntervalMs: number
  /** Longest `wait` the result route honours. */
  maxResultWaitMs: number
  /** Largest `limit` of the history route (and its default when absent is min(100, this)). */
  maxHistoryLimit: number
}

export const DEFAULT_LIMITS: ServerLimits = {
  maxPayload: 64 * 1024,
  maxSubscriptions: 64,
  commandsPerSecond: 50,
  maxLiveExecutions: 1000,
  finishedTtlMs: 60 * 60_000,
  retainedEvents: 10_000,
  retainedBytes: 16 * 1024 * 1024,
  highWaterMark: 1024 * 1024,
  catchUpBatch: 256,
  slowConsumerTimeoutMs: 30_000,
  drainCheckMs: 20,
  heartbeatMs: 30_000,
  presenceIntervalMs: 500,
  maxResultWaitMs: 60_000,
  maxHistoryLimit: 1000,
}

export interface ServerOptions {
  /** 0 (the default) picks a free port. */
  port?: number
  /** Default 127.0.0.1. */
  host?: string
  /** The flows this server runs; default: a fresh instance of every catalog flow. */
  flows?: TriggerFlow<any>[]
  /** `'off'`: every client may do everything (local work). Token auth comes with the hardening issue. */
  auth: 'off'
  /** Where executions run and logs live; default: a MemoryBroker owned by this server. */
  broker?: Broker
  /** Runs on the Redis broker (scale-out over several nodes) when set and `broker` is not. */
  redisUrl?: string
  /** Prefix of every Redis key and channel of this deployment; default `flowcast:`. */
  keyPrefix?: string
  /** Overrides of individual limits. */
  limits?: Partial<ServerLimits>
  /** Logger for server-side failures; default: console.error. */
  onError?: (err: unknown, context: string) => void
}

/** Fills every limit with its default. */
export function resolveLimits(limits: Partial<ServerLimits> = {}): ServerLimits {
  const out = { ...DEFAULT_LIMITS }
  for (const [k, v] of Object.entries(limits)) if (v !== undefined) (out as any)[k] = v
  return out
}
