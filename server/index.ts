/**
 * The flowcast server: a Node HTTP server carrying the Hono app and the WebSocket hub, over a
 * registry, rooms and a broker. Everything belongs to the server instance; two servers in one
 * process share nothing.
 */

import type { Server } from 'node:http'
import type { AddressInfo, Socket } from 'node:net'
import { RetentionBudget } from '@flowcast/flows'
import { catalogFlows } from '@flowcast/flows/catalog'
import type { Role } from '@flowcast/protocol'
import { CloseCode, FlowcastError } from '@flowcast/protocol'
import { createAdaptorServer } from '@hono/node-server'
import type { Logger } from 'pino'
import { AddressSlots } from './address-slots.ts'
import { openAccess, tokenAccess } from './auth/access.ts'
import { Auth } from './auth/tokens.ts'
import type { Broker } from './brokers/broker.ts'
import { MemoryBroker } from './brokers/memory.ts'
import { type LinkChange, RETRY_MAX_MS } from './brokers/redis/link.ts'
import { RedisBroker } from './brokers/redis.ts'
import { Rooms } from './fanout/rooms.ts'
import { createApp } from './http/app.ts'
import { defaultLogger, redactUrl } from './log.ts'
import { ServerMetrics } from './metrics.ts'
import { resolveLimits, type ServerLimits, type ServerOptions } from './options.ts'
import { ExecutionRegistry } from './registry.ts'
import { WsHub } from './ws/hub.ts'

export type { Role } from '@flowcast/protocol'
export type { AuthConfig } from './auth/tokens.ts'
export { randomKey } from './auth/tokens.ts'
export type { Broker, Follower } from './brokers/broker.ts'
export { MemoryBroker } from './brokers/memory.ts'
export { RedisBroker, type RedisBrokerOptions } from './brokers/redis.ts'
export { DEFAULT_LIMITS, type ServerLimits, type ServerOptions } from './options.ts'

/** A running server. */
export interface FlowcastServer {
  /** `http://host:port` */
  readonly url: string
  readonly port: number
  readonly limits: ServerLimits
  /** Mints a token (auth on); undefined when auth is off. For tests and embedding programs. */
  mintToken(executionId: string, role: Role, ttlSeconds?: number): Promise<string | undefined>
  /**
   * Drains the node: new executions answer 503 `draining` and `/readyz` 503 at once, while
   * watchers keep receiving and running executions get up to `timeoutMs` (default
   * `limits.drainTimeoutMs`) to finish; the rest then end as failed with error code `shutdown`.
   * Resolves with how many were ended; call `close()` after it. Idempotent.
   */
  drain(options?: { timeoutMs?: number }): Promise<{ ended: number }>
  /**
   * Stops accepting, closes sockets with `code` (1001 going away by default, 1012 restarting),
   * ends SSE responses, cancels running executions and releases every timer.
   */
  close(options?: { code?: number }): Promise<void>
}

/**
 * Logs a change of the node's link to Redis, once per change: down is a warning (the node is
 * not ready and retries), up is news. The URL is redacted: no password reaches a log line.
 */
function logLink(logger: Logger, redisUrl: string, change: LinkChange): void {
  const fields = { broker: 'redis', redisUrl: redactUrl(redisUrl) }
  if (change.up) logger.info(fields, 'redis reachable')
  else logger.warn({ ...fields, error: change.error, retryMaxMs: RETRY_MAX_MS }, 'redis unreachable')
}

/**
 * The fewest never-used connections kept before the first sweep of those that closed (see
 * `unused` in startServer): a few hundred closed sockets at most wait there for it.
 */
const UNUSED_SWEEP_MIN = 256

/** Starts a server; resolves once it listens. */
export async function startServer(options: ServerOptions): Promise<FlowcastServer> {
  if (options.auth === undefined)
    throw new Error("startServer: `auth` is required: { apiKey, secret } or 'off' (open to everyone)")
  // Throws on a config without apiKey or secret, before anything listens.
  const auth = new Auth(options.auth)
  const limits = resolveLimits(options.limits)
  if (limits.maxItemBytes + 4096 > limits.maxFrameBytes) {
    throw new Error('startServer: limits.maxFrameBytes must be at least limits.maxItemBytes + 4096')
  }
  const allowedOrigins = options.allowedOrigins ?? '*'
  const logger = options.logger ?? defaultLogger()
  const onError = options.onError ?? ((err, context) => logger.error({ err, context }, 'server error'))
  const ownsBroker = options.broker === undefined
  // One bound for every log this node keeps in memory (a broker given by the caller brings its own).
  const budget = new RetentionBudget({
    maxBytes: limits.nodeRetainedBytes,
    maxClosedBytes: limits.finishedRetainedBytes,
  })
  const flows = options.flows ?? catalogFlows()
  const broker: Broker =
    options.broker ??
    (options.redisUrl
      ? await RedisBroker.connect({
          url: options.redisUrl,
          ...(options.keyPrefix === undefined ? {} : { keyPrefix: options.keyPrefix }),
          finishedTtlMs: limits.finishedTtlMs,
          leaseMs: limits.nodeLeaseMs,
          lingerMs: limits.followerLingerMs,
          lingerBytes: limits.followerLingerBytes,
          doorbellBytes: limits.doorbellBytes,
          budget,
          onError,
          onLink: (change) => logLink(logger, options.redisUrl!, change),
          flows,
          checkpointMaxBytes: limits.checkpointMaxBytes,
          maxItemBytes: limits.maxItemBytes,
          onClaimed: (executionId, flow) => logger.info({ executionId, flow }, 'execution claimed'),
        })
      : new MemoryBroker({ budget }))
  const registry = new ExecutionRegistry(broker, flows, limits, logger)
  const access = auth.off ? openAccess() : tokenAccess(auth)
  let metrics: ServerMetrics | undefined
  const rooms = new Rooms(broker, limits, () => metrics, logger)
  const addresses = new AddressSlots(limits.maxConnectionsPerAddress)
  const hub = new WsHub({
    broker,
    rooms,
    addresses,
    access,
    limits,
    allowedOrigins,
    metrics: () => metrics,
    logger,
    onError,
  })
  metrics = new ServerMetrics({
    connections: () => hub.connections,
    rooms: () => rooms.count,
    subscribers: () => rooms.subscribers,
    executionsByStatus: () => registry.byStatus(),
    queuedBytes: () => hub.queuedBytes,
    queuedPeak: () => hub.stats.peak,
    retainedBytes: () => broker.retainedBytes(),
    unclaimable: () => broker.unclaimable?.() ?? 0,
    budget: ownsBroker ? budget : undefined,
  })
  const m = metrics
  const { app, closeStreams } = createApp({
    broker,
    registry,
    rooms,
    addresses,
    access,
    limits,
    allowedOrigins,
    metrics: () => m,
    connections: () => hub.connections,
    logger,
    onError,
  })

  // The adapter's own Request/Response as globals make `c.json()` answer from its string instead of
  // building a web-stream Response, but they replace globals of the whole process: opt-in only.
  const server = createAdaptorServer({
    fetch: app.fetch,
    overrideGlobalObjects: options.lightweightWebGlobals === true,
  }) as Server
  // Connections that never carried a request (clients pre-connect) are not "idle" to Node, so
  // closeIdleConnections leaves them; close() ends them itself. Those that close unused are swept
  // out whenever the set has doubled since the last sweep, rather than by a 'close' listener on
  // every socket, which would stay on every WebSocket for its whole life (and was one of the
  // three on each one's TCP socket a connect paid for).
  const unused = new Set<Socket>()
  let sweepAt = UNUSED_SWEEP_MIN
  server.on('connection', (socket: Socket) => {
    unused.add(socket)
    if (unused.size < sweepAt) return
    for (const s of unused) if (s.destroyed) unused.delete(s)
    sweepAt = Math.max(UNUSED_SWEEP_MIN, 2 * unused.size)
  })
  server.on('request', (req) => unused.delete(req.socket))
  // One 'upgrade' listener: with two, every upgrade's emit copies the listener array.
  server.on('upgrade', (req, socket, head) => {
    unused.delete(req.socket)
    hub.handleUpgrade(req, socket, head)
  })
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject)
    server.listen(options.port ?? 0, options.host ?? '127.0.0.1', () => {
      server.off('error', reject)
      resolve()
    })
  })
  const address = server.address() as AddressInfo
  const host = address.family === 'IPv6' ? `[${address.address}]` : address.address
  const url = `http://${host}:${address.port}`
  logger.info(
    {
      url,
      broker: broker.kind,
      ...(options.redisUrl && !options.broker ? { redisUrl: redactUrl(options.redisUrl) } : {}),
      auth: auth.off ? 'off' : 'tokens',
      allowedOrigins,
      lightweightWebGlobals: options.lightweightWebGlobals === true,
    },
    'listening',
  )

  let draining: Promise<{ ended: number }> | undefined
  const waitingIds = async (ids: string[]): Promise<string[]> => {
    const infos = await Promise.all(ids.map((id) => broker.info(id).catch(() => undefined)))
    return ids.filter((_, i) => infos[i]?.status === 'waiting')
  }
  const drain = async (timeoutMs: number): Promise<{ ended: number }> => {
    registry.drain()
    broker.drain?.()
    logger.info({ live: registry.live, timeoutMs }, 'draining')
    // An execution waiting for an answer needs no node: with Redis it is given up at once.
    if (broker.handOver) await handOver(await waitingIds(registry.liveIds()))
    let timer: ReturnType<typeof setTimeout> | undefined
    const timedOut = await Promise.race([
      registry.idle().then(() => false),
      new Promise<boolean>((resolve) => {
        timer = setTimeout(() => resolve(true), timeoutMs)
      }),
    ])
    clearTimeout(timer)
    let rest = timedOut ? registry.liveIds() : []
    // With Redis, what is left goes on on another node from its checkpoint.
    const handedOver = await handOver(rest)
    rest = rest.filter((id) => !handedOver.includes(id))
    const error = new FlowcastError(
      'shutdown',
      `the node shut down before the execution finished (drain timeout ${timeoutMs} ms)`,
    )
    for (const id of rest) registry.terminate(id, error)
    // The rooms flush on the next check phase: let the final status and stream_end go out first.
    await new Promise<void>((resolve) => setImmediate(resolve))
    logger[rest.length > 0 ? 'warn' : 'info'](
      { ended: rest.length, handedOver: handedOver.length },
      'drained',
    )
    return { ended: rest.length }
  }
  /** The ids among `ids` the broker gave to another node (none with the memory broker). */
  const handOver = async (ids: string[]): Promise<string[]> => {
    if (!broker.handOver) return []
    const done: string[] = []
    for (const id of ids) {
      if (await broker.handOver(id)) {
        registry.release(id)
        logger.info({ executionId: id }, 'execution handed over')
        done.push(id)
      }
    }
    return done
  }

  let closing: Promise<void> | undefined
  const close = async (code: number): Promise<void> => {
    const stopped = new Promise<void>((resolve) => server.close(() => resolve()))
    await hub.close(code)
    closeStreams()
    rooms.close()
    registry.close()
    if (ownsBroker) await broker.close()
    // Long-polls and keep-alive sockets would hold close() open; their answers no longer matter.
    server.closeIdleConnections()
    for (const socket of unused) socket.destroy()
    const force = setTimeout(() => server.closeAllConnections(), 1000)
    await stopped
    clearTimeout(force)
  }

  return {
    url,
    port: address.port,
    limits,
    mintToken: (executionId, role, ttlSeconds) => access.mint(executionId, role, ttlSeconds),
    drain(opts = {}) {
      draining ??= drain(opts.timeoutMs ?? limits.drainTimeoutMs)
      return draining
    },
    close(opts = {}) {
      closing ??= close(opts.code ?? CloseCode.goingAway)
      return closing
    },
  }
}
