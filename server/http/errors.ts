/**
 * The one error mapping of the HTTP side: every route throws FlowcastError and `onError` turns it
 * into `{ error: { code, message } }` with the status its code answers with; anything else is a
 * server error, reported and answered 500 `internal` without its details.
 */
import { FlowcastError, type FlowcastErrorCode, isFlowcastError } from '@flowcast/protocol'
import type { Context } from 'hono'
import type { ContentfulStatusCode } from 'hono/utils/http-status'

const STATUS_OF: Partial<Record<FlowcastErrorCode, ContentfulStatusCode>> = {
  bad_request: 400,
  invalid_input: 400,
  invalid_since: 400,
  unauthorized: 401,
  forbidden: 403,
  not_found: 404,
  interrupt_not_found: 404,
  interrupt_not_waiting: 409,
  invalid_state: 409,
  method_not_allowed: 405,
  payload_too_large: 413,
  unsupported_media_type: 415,
  too_many_executions: 429,
  too_many_connections: 429,
  rate_limited: 429,
  broker_unavailable: 503,
  draining: 503,
}

/** The HTTP status a FlowcastError code answers with. */
export function httpStatusOf(code: string): ContentfulStatusCode {
  return STATUS_OF[code as FlowcastErrorCode] ?? 500
}

/** The app's `onError`: the JSON error body for `err`, reporting what is not a FlowcastError. */
export function errorHandler(onError: (err: unknown, context: string) => void) {
  return (err: Error, c: Context): Response => {
    if (isFlowcastError(err)) return errorResponse(c, err)
    onError(err, `${c.req.method} ${c.req.path}`)
    return errorResponse(c, new FlowcastError('internal', 'internal error'))
  }
}

/** The app's `notFound`: no route matched. */
export function notFound(c: Context): Response {
  return errorResponse(c, new FlowcastError('not_found', `no route ${c.req.method} ${c.req.path}`))
}

function errorResponse(c: Context, err: FlowcastError): Response {
  // The contract's issues travel with invalid_input, so a form can point at the field.
  const extra = err.code === 'invalid_input' && err.details ? { issues: err.details } : undefined
  return c.json({ error: { code: err.code, message: err.message, ...extra } }, httpStatusOf(err.code))
}
