/** The server's options and the defaults behind every limit, resolved once per server. */

import { DEFAULT_RETENTION, type TriggerFlow } from '@flowcast/flows'
import type { Logger } from 'pino'
import type { AuthConfig } from './auth/tokens.ts'
import type { Broker } from './brokers/broker.ts'

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
  /**
   * Largest frame the server builds (live, catch-up, replay, SSE, a history page), in bytes: a
   * burst is split across frames, in order.
   */
  maxFrameBytes: number
  /** Largest runtime-stream item (its encoded envelope); a bigger put is refused with `item_too_large`. */
  maxItemBytes: number
  /** Events per catch-up (and replay) frame. */
  catchUpBatch: number
  /** A socket that stays above the high-water mark this long is closed with 4008. */
  slowConsumerTimeoutMs: number
  /** How often paused sockets are checked for drain. */
  drainCheckMs: number
  /** Server ping interval; a socket that has not answered the previous ping with a pong is terminated. */
  heartbeatMs: number
  /** Least time between two presence frames of one room. */
  presenceIntervalMs: number
  /** Longest `wait` the result route honours. */
  maxResultWaitMs: number
  /** Largest `limit` of the history route (and its default when absent is min(100, this)). */
  maxHistoryLimit: number
  /** Largest HTTP request body in bytes; bigger ones answer 413 `payload_too_large`. */
  maxBodyBytes: number
  /** Rate-limited frames within one `rateLimitWindowMs` after which the socket is closed with 4029. */
  rateLimitCloseAfter: number
  /** The window (fixed, per socket) over which `rateLimitCloseAfter` counts refusals. */
  rateLimitWindowMs: number
  /**
   * Bytes of control replies (pong, error, ack, subscribed) one socket may have queued past the
   * high-water mark; the reply that would go over closes the socket with 4008. Live delivery
   * pauses at the mark, but a reply cannot wait for a drain, so a client that sends and never
   * reads would otherwise grow the server's queue without bound.
   */
  controlOverdraftBytes: number
  /** Open WebSocket connections one client address may hold; more are refused with 429. */
  maxConnectionsPerAddress: number
  /** How long a socket without `?token=` has to send its `auth` frame before it is closed with 4001. */
  authTimeoutMs: number
  /**
   * Redis broker: how long a node's lease lasts unrenewed (renewed every third of it). When a node
   * dies without a word, other nodes end its running executions as failed `node_lost` about this
   * long after. Use one value for every node of a deployment.
   */
  nodeLeaseMs: number
}

export const DEFAULT_LIMITS: ServerLimits = {
  maxPayload: 64 * 1024,
  maxSubscriptions: 64,
  commandsPerSecond: 50,
  maxLiveExecutions: 1000,
  finishedTtlMs: 60 * 60_000,
  retainedEvents: DEFAULT_RETENTION.maxEvents,
  retainedBytes: DEFAULT_RETENTION.maxBytes,
  highWaterMark: 1024 * 1024,
  maxFrameBytes: 1024 * 1024,
  maxItemBytes: 512 * 1024,
  catchUpBatch: 256,
  slowConsumerTimeoutMs: 30_000,
  drainCheckMs: 20,
  heartbeatMs: 30_000,
  presenceIntervalMs: 500,
  maxResultWaitMs: 60_000,
  maxHistoryLimit: 1000,
  maxBodyBytes: 1024 * 1024,
  rateLimitCloseAfter: 100,
  rateLimitWindowMs: 10_000,
  controlOverdraftBytes: 64 * 1024,
  maxConnectionsPerAddress: 1000,
  authTimeoutMs: 5000,
  nodeLeaseMs: 15_000,
}

export interface ServerOptions {
  /** 0 (the default) picks a free port. */
  port?: number
  /** Default 127.0.0.1. */
  host?: string
  /** The flows this server runs; default: a fresh instance of every catalog flow. */
  flows?: TriggerFlow<any>[]
  /**
   * Required, so that an open server is always a visible choice: `{ apiKey, secret }` turns token
   * auth on (the API key starts executions and mints tokens; tokens are HS256 JWTs signed with
   * `secret`); `'off'` lets every client do everything (local work only).
   */
  auth: AuthConfig | 'off'
  /**
   * Origins allowed to call the HTTP API (CORS) and to open WebSockets: `'*'` (the default) or a
   * list such as `['https://app.example.com']`. An upgrade whose `Origin` is not allowed gets 403.
   */
  allowedOrigins?: '*' | string[]
  /** Where executions run and logs live; default: a MemoryBroker owned by this server. */
  broker?: Broker
  /** Runs on the Redis broker (scale-out over several nodes) when set and `broker` is not. */
  redisUrl?: string
  /** Prefix of every Redis key and channel of this deployment; default `flowcast:`. */
  keyPrefix?: string
  /** Overrides of individual limits. */
  limits?: Partial<ServerLimits>
  /**
   * Structured logs (pino). Default: pino to stdout at `$LOG_LEVEL` (default `info`; `silent`
   * under vitest). Tokens and API keys are never logged.
   */
  logger?: Logger
  /** Called on server-side failures; default: `logger.error`. */
  onError?: (err: unknown, context: string) => void
}

/** Fills every limit with its default. */
export function resolveLimits(limits: Partial<ServerLimits> = {}): ServerLimits {
  const out = { ...DEFAULT_LIMITS }
  for (const [k, v] of Object.entries(limits)) if (v !== undefined) (out as any)[k] = v
  return out
}
