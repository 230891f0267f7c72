/**
 * What every HTTP route shares: the Hono environment (the Node request and response as bindings,
 * the caller's Principal as a variable), the dependencies the app is built over, and the access
 * checks routes make before they touch an execution.
 */
import type { IncomingMessage, ServerResponse } from 'node:http'
import { FlowcastError } from '@flowcast/protocol'
import type { Context as OtelContext } from '@opentelemetry/api'
import type { Context } from 'hono'
import type { Logger } from 'pino'
import type { AddressSlots } from '../address-slots.ts'
import type { AccessResolver, Principal } from '../auth/access.ts'
import type { Broker } from '../brokers/broker.ts'
import type { Rooms } from '../fanout/rooms.ts'
import type { ServerMetrics } from '../metrics.ts'
import type { ServerLimits } from '../options.ts'
import type { ExecutionRegistry } from '../registry.ts'

/** Under @hono/node-server the Node request and response are the bindings; other runtimes have none. */
export type Env = {
  Bindings: { incoming?: IncomingMessage; outgoing?: ServerResponse } | undefined
  /**
   * `trace`: the request's span context (none when untraced); `executionId`: set by the route that
   * started one; `corsJson`: the JSON headers with CORS in them, until `corsJson()` answers with them.
   */
  Variables: {
    principal: Principal
    body: string
    trace?: OtelContext
    executionId?: string
    corsJson?: Readonly<Record<string, string>>
  }
}

export interface AppDeps {
  broker: Broker
  registry: ExecutionRegistry
  rooms: Rooms
  /** The per-address cap, shared with the WebSocket hub: an SSE response holds a slot too. */
  addresses: AddressSlots
  access: AccessResolver
  limits: ServerLimits
  /** `'*'` or the exact origins allowed by CORS on /api/*. */
  allowedOrigins: '*' | string[]
  metrics: () => ServerMetrics
  connections: () => number
  logger: Logger
  onError: (err: unknown, context: string) => void
}

/** Throws `forbidden` unless the caller may read execution `id`. */
export function mustRead(c: Context<Env>, id: string): void {
  if (!c.get('principal').canRead(id)) throw new FlowcastError('forbidden', `no read access to ${id}`)
}

/** Throws `forbidden` unless the caller may command execution `id`. */
export function mustCommand(c: Context<Env>, id: string): void {
  if (!c.get('principal').canCommand(id)) throw new FlowcastError('forbidden', `no admin access to ${id}`)
}
