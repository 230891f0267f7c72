/**
 * `POST /api/executions/:id/stream-ticket`: trades a viewer or admin token (or the API key) in the
 * `Authorization` header for a stream ticket, the one credential a browser's `EventSource` can
 * carry (it sends no headers): valid for that execution's SSE route only, as `?ticket=`, for
 * `streamTicketTtlMs` and never past the traded token's own expiry. Anywhere else, a header, the
 * socket, another execution, a ticket is refused; so a URL that leaks into a log opens one stream
 * of one execution for a minute, not everything the token could do.
 */
import { FlowcastError } from '@flowcast/protocol'
import { Hono } from 'hono'
import { type AppDeps, type Env, mustRead } from './context.ts'
import { corsJson } from './cors.ts'

/** The ticket sub-app, mounted at /api/executions. */
export function ticketRoutes(deps: AppDeps): Hono<Env> {
  const { access, broker, limits } = deps
  const app = new Hono<Env>()

  app.post('/:id/stream-ticket', async (c) => {
    const id = c.req.param('id')
    mustRead(c, id)
    if (!access.enabled) throw new FlowcastError('bad_request', 'auth is off: the stream needs no ticket')
    if (!(await broker.info(id))) throw new FlowcastError('not_found', `no execution "${id}"`)
    const { ticket, exp } = access.mintTicket(c.get('principal'), id, limits.streamTicketTtlMs)!
    return corsJson(
      c,
      {
        ticket,
        executionId: id,
        expiresAt: new Date(exp * 1000).toISOString(),
        stream: `/api/executions/${encodeURIComponent(id)}/stream?ticket=${ticket}`,
      },
      201,
    )
  })

  return app
}
