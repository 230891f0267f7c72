/** The server's options and the defaults behind every limit, resolved once per server. */

import type { TriggerFlow } from '@flowcast/flows'
import { FlowcastError } from '@flowcast/protocol'
import type { Logger } from 'pino'
import type { AuthConfig } from './auth/tokens.ts'
import type { Broker } from './brokers/broker.ts'
import type { Setting } from './config/setting.ts'
import { DEFAULT_LIMITS, LIMIT_SETTINGS, type ServerLimits } from './config/settings.ts'

// Each limit is defined once, with its type, default and doc, in config/settings.ts (the README's
// configuration table is generated from there).
export { DEFAULT_LIMITS, type ServerLimits } from './config/settings.ts'

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
  /**
   * Replace the process's `Request`/`Response` globals with the adapter's lightweight ones (JSON
   * answers skip the web-stream Response); default false, since this changes globals of the
   * embedding process (every module there then gets the stand-ins). `flowcast serve` turns it on.
   */
  lightweightWebGlobals?: boolean
}

/**
 * Fills every limit with its default after checking each given one against its definition; a bad
 * value throws `bad_request` naming the limit, before anything starts.
 */
export function resolveLimits(limits: Partial<ServerLimits> = {}): ServerLimits {
  const out: ServerLimits = { ...DEFAULT_LIMITS }
  for (const [name, value] of Object.entries(limits)) {
    if (value === undefined) continue
    const setting = (LIMIT_SETTINGS as Record<string, Setting<number>>)[name]
    if (!setting) throw new FlowcastError('bad_request', `unknown limit "${name}"`)
    const parsed = setting.schema.safeParse(value)
    if (!parsed.success)
      throw new FlowcastError(
        'bad_request',
        `invalid limits.${name} (${JSON.stringify(value)}): ${parsed.error.issues.map((i) => i.message).join('; ')}`,
      )
    out[name as keyof ServerLimits] = parsed.data
  }
  return out
}
