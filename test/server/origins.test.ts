/**
 * allowedOrigins: CORS on the HTTP API (hono's cors middleware) and the Origin check on WebSocket
 * upgrades (403 for a listed-out origin; no Origin header, as from a non-browser client, passes).
 */
import { afterEach, describe, expect, it } from 'vitest'
import type { FlowcastServer } from '../../server/index.ts'
import { waitFor } from '../helpers/wait.ts'
import { TestSocket } from '../helpers/ws-client.ts'
import { serve } from './fixtures.ts'

const GOOD = 'https://app.example.com'
const EVIL = 'https://evil.example.net'

const sockets: TestSocket[] = []
afterEach(async () => {
  await Promise.all(sockets.splice(0).map((s) => s.close()))
})

/** Opens /ws with `origin` (or none); resolves 101 when accepted, else the refusal status. */
function upgrade(server: FlowcastServer, origin?: string): Promise<number> {
  const s = new TestSocket(`${server.url.replace(/^http/, 'ws')}/ws`, origin ? { origin } : {})
  sockets.push(s)
  return waitFor(
    new Promise<number>((resolve) => {
      s.ws.once('unexpected-response', (_req, res) => resolve(res.statusCode!))
      s.ws.once('open', () => resolve(101))
    }),
    5000,
    'the upgrade outcome',
  )
}

function preflight(server: FlowcastServer, origin: string): Promise<Response> {
  return fetch(`${server.url}/api/flows/ticker/executions`, {
    method: 'OPTIONS',
    headers: {
      origin,
      'access-control-request-method': 'POST',
      'access-control-request-headers': 'authorization, content-type',
    },
  })
}

describe('allowed origins', () => {
  it("default '*': CORS allows any origin and any Origin may open a socket", async () => {
    const server = await serve()
    const res = await fetch(`${server.url}/api/flows`, { headers: { origin: EVIL } })
    await res.body?.cancel()
    expect(res.headers.get('access-control-allow-origin')).toBe('*')
    const pre = await preflight(server, EVIL)
    expect(pre.status).toBe(204)
    expect(pre.headers.get('access-control-allow-origin')).toBe('*')
    expect(pre.headers.get('access-control-allow-headers')?.toLowerCase()).toContain('authorization')
    expect(await upgrade(server, EVIL)).toBe(101)
  })

  it("default '*': a start, a result read and the flow list carry the header once, beside their JSON type", async () => {
    const server = await serve()
    const started = await fetch(`${server.url}/api/flows/ticker/executions`, {
      method: 'POST',
      headers: { origin: EVIL, 'content-type': 'application/json' },
      body: JSON.stringify({ input: { count: 1 } }),
    })
    expect(started.status).toBe(201)
    // Headers.get joins repeated fields with ', ': a second copy would read '*, *'.
    expect(started.headers.get('access-control-allow-origin')).toBe('*')
    expect(started.headers.get('content-type')).toBe('application/json')
    const { executionId } = (await started.json()) as { executionId: string }
    const read = await fetch(`${server.url}/api/executions/${executionId}/result?wait=5000`, {
      headers: { origin: EVIL },
    })
    expect(read.status).toBe(200)
    expect(read.headers.get('access-control-allow-origin')).toBe('*')
    expect(read.headers.get('content-type')).toBe('application/json')
    expect(await read.json()).toMatchObject({ status: 'completed' })
    const listed = await fetch(`${server.url}/api/flows`, { headers: { origin: EVIL } })
    await listed.body?.cancel()
    expect(listed.headers.get('access-control-allow-origin')).toBe('*')
    const missing = await fetch(`${server.url}/api/executions/nope/result`, { headers: { origin: EVIL } })
    await missing.body?.cancel()
    expect(missing.status).toBe(404)
    expect(missing.headers.get('access-control-allow-origin')).toBe('*')
  })

  it('a pinned list: CORS answers only listed origins; preflights pass before auth', async () => {
    const server = await serve({
      allowedOrigins: [GOOD],
      auth: { apiKey: 'origins-api-key-0123456789abcdef', secret: 'origins-secret-0123456789abcdef0123456' },
    })
    const good = await preflight(server, GOOD)
    expect(good.status).toBe(204)
    expect(good.headers.get('access-control-allow-origin')).toBe(GOOD)
    expect(good.headers.get('access-control-allow-methods')).toContain('POST')
    const evil = await preflight(server, EVIL)
    expect(evil.headers.get('access-control-allow-origin')).toBeNull()
    const list = await fetch(`${server.url}/api/flows`, { headers: { origin: GOOD } })
    await list.body?.cancel()
    expect(list.headers.get('access-control-allow-origin')).toBe(GOOD)
    // The answer depends on Origin, so a shared cache must key on it.
    expect(list.headers.get('vary')).toBe('Origin')
    const other = await fetch(`${server.url}/api/flows`, { headers: { origin: EVIL } })
    await other.body?.cancel()
    expect(other.headers.get('access-control-allow-origin')).toBeNull()
    expect(other.headers.get('vary')).toBe('Origin')
    // An error answer carries the CORS header too, so the page can read why it was refused.
    const refused = await fetch(`${server.url}/api/executions/x`, { headers: { origin: GOOD } })
    expect(refused.status).toBe(401)
    expect(refused.headers.get('access-control-allow-origin')).toBe(GOOD)
    expect(refused.headers.get('vary')).toBe('Origin')
    await refused.body?.cancel()
  })

  it('a pinned list: an upgrade from another origin gets 403; a listed one or none passes', async () => {
    const server = await serve({ allowedOrigins: [GOOD] })
    expect(await upgrade(server, EVIL)).toBe(403)
    expect(await upgrade(server, 'null')).toBe(403)
    expect(await upgrade(server, GOOD)).toBe(101)
    expect(await upgrade(server)).toBe(101)
    const text = await (await fetch(`${server.url}/metrics`)).text()
    expect(text).toMatch(/^flowcast_connections_refused_total\{reason="origin"\} 2$/m)
  })
})
