/**
 * Request bodies: read once, before any route, bounded by `maxBodyBytes` whether the length is
 * announced or the body is chunked, and held as text for the route. A non-empty body must be
 * JSON: a content type other than JSON, `text/plain` (what `fetch` sends for a string) or none is
 * 415, never parsed; a body that does not parse is 400. No body and an empty body read as `{}`.
 */
import { FlowcastError } from '@flowcast/protocol'
import type { Context, MiddlewareHandler } from 'hono'
import type { Env } from './context.ts'

/** Reads the body of every request that may carry one, within `maxBytes`. */
export function readBody(maxBytes: number): MiddlewareHandler<Env> {
  return async (c, next) => {
    if (c.req.method === 'GET' || c.req.method === 'HEAD' || c.req.method === 'OPTIONS') return next()
    const announced = c.req.header('content-length')
    if (announced !== undefined && Number(announced) > maxBytes) throw tooLarge(maxBytes)
    // An announced length within the bound is all the parser will give this request, so the
    // adapter's direct read is safe and skips the web stream (a full Request built per call).
    const text = announced !== undefined ? await c.req.raw.text() : await readCapped(c.req.raw.body, maxBytes)
    if (text.trim() !== '' && !isJson(c.req.header('content-type'))) {
      throw new FlowcastError(
        'unsupported_media_type',
        'a body must be JSON (content-type: application/json)',
      )
    }
    c.set('body', text)
    await next()
  }
}

/** The request's JSON body; `{}` when there is none. Throws `bad_request` when it is not JSON. */
export function readJson(c: Context<Env>): unknown {
  const text = c.get('body') ?? ''
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

/** The refusal of a body over `maxBytes`. */
function tooLarge(maxBytes: number): FlowcastError {
  return new FlowcastError('payload_too_large', `the body is over ${maxBytes} bytes`)
}

function isJson(contentType: string | undefined): boolean {
  // What every client sends, before the general parse below.
  if (!contentType || contentType === 'application/json') return true
  const type = contentType.split(';')[0]!.trim().toLowerCase()
  return (
    type === 'application/json' ||
    type === 'text/plain' ||
    (type.startsWith('application/') && type.endsWith('+json'))
  )
}

/** The stream's text, refusing with `payload_too_large` as soon as it passes `maxBytes`. */
async function readCapped(body: ReadableStream<Uint8Array> | null, maxBytes: number): Promise<string> {
  if (!body) return ''
  const reader = body.getReader()
  const chunks: Uint8Array[] = []
  let size = 0
  for (;;) {
    const { done, value } = await reader.read()
    if (done) break
    size += value.byteLength
    if (size > maxBytes) {
      await reader.cancel().catch(() => undefined)
      throw tooLarge(maxBytes)
    }
    chunks.push(value)
  }
  return Buffer.concat(chunks).toString('utf8')
}
