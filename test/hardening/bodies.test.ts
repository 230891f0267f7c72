/**
 * Issue 14 point 5: every POST route answers no body, an empty body, a chunked body and a body
 * with the wrong content type (a form) with its documented status — never 500 — with auth on, before and
 * after auth; a chunked body over maxBodyBytes is 413.
 */
import { request } from 'node:http'
import { describe, expect, it } from 'vitest'
import { Gate, serve, start } from '../server/fixtures.ts'

const API_KEY = 'bodies-api-key-0123456789abcdef0123'
const auth = { apiKey: API_KEY, secret: 'bodies-secret-0123456789abcdef0123456789abc' }

type Body = 'none' | 'empty' | 'chunked' | 'form'

/** One raw request: no body, `content-length: 0`, a chunked JSON body, or JSON sent as text/plain. */
function send(
  url: string,
  path: string,
  kind: Body,
  json: string,
  bearer = API_KEY,
  method = 'POST',
): Promise<{ status: number; body: any }> {
  const u = new URL(url)
  const headers: Record<string, string> = { authorization: `Bearer ${bearer}` }
  if (kind === 'empty') headers['content-length'] = '0'
  if (kind === 'chunked') headers['content-type'] = 'application/json'
  if (kind === 'form') {
    headers['content-type'] = 'form'
    headers['content-length'] = String(Buffer.byteLength(json))
  }
  return new Promise((resolve, reject) => {
    const req = request({ host: u.hostname, port: u.port, path, method, headers }, (res) => {
      let text = ''
      res.on('data', (d) => (text += d))
      res.on('end', () => resolve({ status: res.statusCode!, body: text ? JSON.parse(text) : undefined }))
    })
    req.on('error', reject)
    if (kind === 'chunked') {
      // Two writes without a length: Node sends them as chunks.
      req.write(json.slice(0, 3))
      req.write(json.slice(3))
    }
    if (kind === 'form') req.write(json)
    req.end()
  })
}

describe('request bodies on every POST route', () => {
  it('no body, empty, chunked and wrong content type each get their documented answer', async () => {
    const gate = new Gate()
    const server = await serve({ gate, auth })
    const { executionId } = await start(server, 'gated', { before: 1, after: 1 }, API_KEY)
    const { executionId: other } = await start(server, 'gated', { before: 1, after: 1 }, API_KEY)
    const routes: { path: string; json: string; method?: string; expect: Record<Body, number> }[] = [
      {
        path: `/api/executions/${other}/cancel`,
        json: '{}',
        expect: { none: 200, empty: 200, chunked: 200, form: 415 },
      },
      {
        path: '/api/flows/ticker/executions',
        json: '{"input":{"count":1}}',
        // No body reads as {}: the ticker's contract then refuses the missing input.
        expect: { none: 400, empty: 400, chunked: 201, form: 415 },
      },
      {
        path: '/api/tokens',
        json: JSON.stringify({ executionId, role: 'viewer' }),
        expect: { none: 400, empty: 400, chunked: 201, form: 415 },
      },
      {
        path: `/api/executions/${executionId}/stop-stream`,
        json: '{}',
        expect: { none: 200, empty: 200, chunked: 200, form: 415 },
      },
      {
        path: `/api/executions/${executionId}/interrupts/nope/continue`,
        json: '{"value":1}',
        expect: { none: 404, empty: 404, chunked: 404, form: 415 },
      },
    ]
    for (const r of routes) {
      for (const kind of ['none', 'empty', 'chunked', 'form'] as const) {
        const res = await send(server.url, r.path, kind, r.json, API_KEY, r.method)
        expect(res.status, `${r.path} ${kind}: ${JSON.stringify(res.body)}`).toBe(r.expect[kind])
        if (res.status >= 400) expect(typeof res.body.error.code).toBe('string')
      }
    }
    // Before auth (a bad credential): 401, whatever the body.
    for (const kind of ['none', 'empty', 'chunked', 'form'] as const) {
      const res = await send(server.url, `/api/executions/${executionId}/stop-stream`, kind, '{}', 'wrong')
      expect(res.status, kind).toBe(401)
    }
    gate.open()
  })

  it('a text/plain body that is not JSON is 400 bad_request', async () => {
    const server = await serve({ auth })
    const res = await fetch(`${server.url}/api/flows/ticker/executions`, {
      method: 'POST',
      headers: { authorization: `Bearer ${API_KEY}` },
      body: 'count=1',
    })
    expect(res.status).toBe(400)
    expect((await res.json()).error.code).toBe('bad_request')
  })

  it('a chunked body over maxBodyBytes is 413 payload_too_large', async () => {
    const server = await serve({ auth, limits: { maxBodyBytes: 1024 } })
    const res = await send(
      server.url,
      '/api/flows/ticker/executions',
      'chunked',
      `{"input":"${'x'.repeat(4096)}"}`,
    )
    expect(res.status).toBe(413)
    expect(res.body.error.code).toBe('payload_too_large')
  })
})
