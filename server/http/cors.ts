/**
 * CORS on the API. Preflights go to hono's cors middleware. Every other request gets its
 * `Access-Control-Allow-Origin` (and `Vary: Origin` for a pinned list) written into the route's
 * own response after the route ran: hono's middleware sets them on `c.res` before the route,
 * which builds an empty Response and then a second one to merge it with the route's, two
 * Response objects per API call that cost more than a result read itself. Under
 * @hono/node-server the headers go on the Node response instead (its writeHead merges them): the
 * route's plain header object then stays plain, where touching `c.res.headers` turns it into a
 * Headers object that the adapter iterates back into an object (3.5% of a start, issue 18).
 *
 * A header set on the Node response before its writeHead still costs that call its slow path
 * (each of the route's headers set again, then the merged set written): with every origin
 * allowed, the /api routes answer JSON through `corsJson` instead, whose one plain header object
 * carries `Access-Control-Allow-Origin` beside the content type; what else they answer (errors,
 * SSE) gets the header from the middleware.
 */
import type { Context, MiddlewareHandler } from 'hono'
import { cors } from 'hono/cors'
import type { ContentfulStatusCode } from 'hono/utils/http-status'
import type { Env } from './context.ts'

/** A JSON answer's headers when every origin is allowed; shared, never written to. */
const JSON_ANY_ORIGIN: Readonly<Record<string, string>> = Object.freeze({
  'Content-Type': 'application/json',
  'Access-Control-Allow-Origin': '*',
})

/** CORS for `allowedOrigins` (`'*'` or exact origins) on the routes it is mounted on. */
export function apiCors(allowedOrigins: '*' | string[]): MiddlewareHandler<Env> {
  const preflight = cors({
    origin: allowedOrigins,
    allowMethods: ['GET', 'POST', 'OPTIONS'],
    allowHeaders: ['Authorization', 'Content-Type', 'Last-Event-ID'],
    maxAge: 600,
  })
  const pinned = allowedOrigins === '*' ? undefined : new Set(allowedOrigins)
  return async (c, next) => {
    if (c.req.method === 'OPTIONS') return preflight(c, next)
    if (!pinned) c.set('corsJson', JSON_ANY_ORIGIN)
    await next()
    // corsJson took the headers (and cleared them): the answer carries them already.
    if (!pinned && c.get('corsJson') === undefined) return
    const origin = c.req.header('origin')
    const allow = pinned ? (origin !== undefined && pinned.has(origin) ? origin : undefined) : '*'
    const outgoing = c.env?.outgoing
    if (outgoing && !outgoing.headersSent) {
      if (allow) outgoing.setHeader('access-control-allow-origin', allow)
      if (pinned) outgoing.appendHeader('vary', 'Origin')
      return
    }
    try {
      if (allow) c.res.headers.set('Access-Control-Allow-Origin', allow)
      if (pinned) c.res.headers.append('Vary', 'Origin')
    } catch {
      // A response with immutable headers: c.header copies it first.
      if (allow) c.header('Access-Control-Allow-Origin', allow)
      if (pinned) c.header('Vary', 'Origin', { append: true })
    }
  }
}

/**
 * `c.json(body, status)` with the CORS header in the same header object when every origin is
 * allowed (see above); otherwise `c.json`, and the middleware adds the headers as for any route.
 */
export function corsJson(c: Context<Env>, body: unknown, status: ContentfulStatusCode = 200): Response {
  const headers = c.get('corsJson')
  if (!headers) return c.json(body, status)
  c.set('corsJson', undefined)
  return new Response(JSON.stringify(body), { status, headers })
}
