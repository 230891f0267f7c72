/**
 * The HTTP side of the server (DESIGN section 5): one Hono app over the registry, the broker and
 * the rooms, runtime-neutral (fetch in, Response out). It runs the middleware every /api route
 * shares (access log, CORS, body limit, who is asking), mounts one sub-app per resource with
 * `app.route`, and maps every error in one place (errors.ts).
 */
import { isFlowcastError } from '@flowcast/protocol'
import type { MiddlewareHandler } from 'hono'
import { Hono } from 'hono'
import { matchedRoutes } from 'hono/route'
import { redactUrl } from '../log.ts'
import { startHttpSpan } from '../tracing.ts'
import { readBody } from './body.ts'
import type { AppDeps, Env } from './context.ts'
import { apiCors } from './cors.ts'
import { errorHandler, notFound } from './errors.ts'
import { executionRoutes } from './executions.ts'
import { flowRoutes } from './flows.ts'
import { opsRoutes } from './ops.ts'
import { pageRoutes } from './page.ts'
import { SseStreams } from './sse.ts'
import { ticketRoutes } from './tickets.ts'
import { tokenRoutes } from './tokens.ts'

export type { AppDeps } from './context.ts'

/** An execution id in an `/api/executions/:id...` path. */
const EXECUTION_PATH = /^\/api\/executions\/([^/]+)/
/** The SSE route: the one place a stream ticket (`?ticket=`) is taken. */
const STREAM_PATH = /^\/api\/executions\/[^/]+\/stream$/

/** One span per request (a no-op without an OpenTelemetry SDK), named after the route it matched. */
const traceRequest: MiddlewareHandler<Env> = async (c, next) => {
  const span = startHttpSpan(c.req.method, c.req.path)
  if (!span) return next()
  c.set('trace', span.context)
  let status = 500
  try {
    await next()
    status = c.res.status
  } finally {
    // Middleware is registered for every method ('ALL'); the route is the last real handler's.
    const route = matchedRoutes(c).findLast((r) => r.method !== 'ALL')?.path
    const fromPath = EXECUTION_PATH.exec(c.req.path)?.[1]
    span.end(route, status, c.get('executionId') ?? (fromPath ? decodeURIComponent(fromPath) : undefined))
  }
}

/** Builds the Hono app; `closeStreams` ends every open SSE response (server shutdown). */
export function createApp(deps: AppDeps): { app: Hono<Env>; closeStreams(): void } {
  const { access, limits, logger } = deps
  const sse = new SseStreams(deps)
  const app = new Hono<Env>()

  app.onError(errorHandler(deps.onError))
  app.notFound(notFound)
  app.use('*', traceRequest)
  app.route('/', pageRoutes())

  // Access log at debug level only; the URL goes through redactUrl so `?token=` never lands in it.
  app.use('*', async (c, next) => {
    if (!logger.isLevelEnabled('debug')) return next()
    const t0 = performance.now()
    await next()
    const url = new URL(c.req.url)
    logger.debug(
      {
        method: c.req.method,
        url: redactUrl(url.pathname + url.search),
        status: c.res.status,
        ms: Math.round(performance.now() - t0),
      },
      'http',
    )
  })

  // Before auth, so that a browser's preflight (which carries no credentials) is answered.
  app.use('/api/*', apiCors(deps.allowedOrigins))
  // Who is asking: one place, so routes never look at credentials. The flow list is public; a
  // stream ticket counts on the SSE route only (elsewhere `?ticket=` is ignored, so 401 without a header).
  app.use('/api/*', async (c, next) => {
    if (c.req.method === 'GET' && c.req.path === '/api/flows') return next()
    const ticket = c.req.method === 'GET' && STREAM_PATH.test(c.req.path) ? c.req.query('ticket') : undefined
    try {
      c.set(
        'principal',
        ticket === undefined ? await access.fromHttp(c.req.raw.headers) : access.fromTicket(ticket),
      )
    } catch (err) {
      if (isFlowcastError(err, 'unauthorized')) {
        deps.metrics().authFailures.inc({ transport: 'http' })
        logger.info({ transport: 'http', reason: err.message, path: c.req.path }, 'auth failed')
      }
      throw err
    }
    await next()
  })
  // After auth: a caller without a credential gets 401 and its body is never read.
  app.use('/api/*', readBody(limits.maxBodyBytes))

  app.route('/', opsRoutes(deps))
  app.route('/api/flows', flowRoutes(deps))
  app.route('/api/tokens', tokenRoutes(deps))
  app.route('/api/executions', executionRoutes(deps, sse))
  app.route('/api/executions', ticketRoutes(deps))

  return { app, closeStreams: () => sse.close() }
}
