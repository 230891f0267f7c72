/** Reading what a request carries: its JSON body (within the body limit) and its integer query values. */
import { FlowcastError } from '@flowcast/protocol'
import type { Context, MiddlewareHandler } from 'hono'
import { bodyLimit } from 'hono/body-limit'

/**
 * Refuses a POST body over `maxBytes` with `payload_too_large` (other methods read none). A
 * declared Content-Length is checked from the header (Node's parser holds the body to it); only a
 * body of unknown length is counted as it streams. hono's own bodyLimit reads `req.raw.body`,
 * which makes @hono/node-server build a full Request for every call, GETs included.
 */
export function limitBody(maxBytes: number): MiddlewareHandler {
  const tooLarge = () => {
    throw new FlowcastError('payload_too_large', `the body is over ${maxBytes} bytes`)
  }
  const streamed = bodyLimit({ maxSize: maxBytes, onError: tooLarge })
  return async (c, next) => {
    // Only POST routes read a body. hono's limiter rebuilds a body-less DELETE's request and fails
    // there (a 500), so the other methods skip it.
    if (c.req.method !== 'POST') return next()
    const length = c.req.header('content-length')
    if (length !== undefined && c.req.header('transfer-encoding') === undefined) {
      if (Number(length) > maxBytes) tooLarge()
      return next()
    }
    return streamed(c, next)
  }
}

/** The request's JSON body; `{}` when there is none. Throws `bad_request` when it is not JSON. */
export async function readJson(c: Context): Promise<unknown> {
  const text = await c.req.text()
  if (text.trim() === '') return {}
  try {
    return JSON.parse(text)
  } catch {
    throw new FlowcastError('bad_request', 'the body is not valid JSON')
  }
}

/** Parses a non-negative integer query value; undefined when absent, NaN when malformed. */
export function intParam(value: string | undefined): number | undefined {
  if (value === undefined || value === '') return undefined
  return /^\d{1,15}$/.test(value) ? Number(value) : Number.NaN
}
