/**
 * CORS on the API. Preflights go to hono's cors middleware. Every other request gets its
 * `Access-Control-Allow-Origin` (and `Vary: Origin` for a pinned list) written into the route's
 * own response after the route ran: hono's middleware sets them on `c.res` before the route,
 * which builds an empty Response and then a second one to merge it with the route's, two
 * Response objects per API call that cost more than a result read itself. Under
 * @hono/node-server the headers go on the Node response instead (its writeHead merges them): the
 * route's plain header object then stays plain, where touching `c.res.headers` turns it into a
 * Headers object that the adapter iterates back into an object (3.5% of a start, issue 18).
 */
import type { MiddlewareHandler } from 'hono'
import { cors } from 'hono/cors'
import type { Env } from './context.ts'

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
    await next()
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
