/**
 * Observability: GET /metrics (one prom-client registry per server) counts what happened, exactly;
 * the pino logs carry the execution id and never a credential, not even in an access-log URL.
 */
import { SignJWT } from 'jose'
import { pino } from 'pino'
import { afterEach, describe, expect, it } from 'vitest'
import type { FlowcastServer } from '../../server/index.ts'
import { REDACT } from '../../server/log.ts'
import { waitFor } from '../helpers/wait.ts'
import { range, TestSocket } from '../helpers/ws-client.ts'
import { Gate, getJson, serve, start } from './fixtures.ts'

const API_KEY = 'obs-api-key-0123456789abcdef0123'
const SECRET = 'obs-secret-0123456789abcdef0123456789abc'
const auth = { apiKey: API_KEY, secret: SECRET }

const sockets: TestSocket[] = []
afterEach(async () => {
  await Promise.all(sockets.splice(0).map((s) => s.close()))
})

/** Every sample of the exposition as `name{labels}` -> value. */
async function scrape(server: FlowcastServer): Promise<Map<string, number>> {
  const res = await fetch(`${server.url}/metrics`)
  expect(res.headers.get('content-type')).toContain('text/plain')
  const out = new Map<string, number>()
  for (const line of (await res.text()).split('\n')) {
    if (line === '' || line.startsWith('#')) continue
    const i = line.lastIndexOf(' ')
    out.set(line.slice(0, i), Number(line.slice(i + 1)))
  }
  return out
}

function socket(server: FlowcastServer, query = ''): TestSocket {
  const s = new TestSocket(`${server.url.replace(/^http/, 'ws')}/ws${query}`)
  sockets.push(s)
  return s
}

async function refusedUpgrade(s: TestSocket): Promise<number> {
  return waitFor(
    new Promise<number>((r) => s.ws.once('unexpected-response', (_q, res) => r(res.statusCode!))),
    5000,
    'refusal',
  )
}

describe('metrics', () => {
  it('count connections, rooms, subscribers, events in and out, frames, bytes, gaps, auth failures and executions by status', async () => {
    const gate = new Gate()
    const server = await serve({ gate, auth, limits: { retainedEvents: 5 } })
    const other = await serve({ auth })
    const { executionId, tokens } = await start(server, 'ticker', { count: 10 }, API_KEY)
    expect(
      (
        await getJson(`${server.url}/api/executions/${executionId}/result?wait=5000`, {
          headers: { authorization: `Bearer ${API_KEY}` },
        })
      ).status,
    ).toBe(200)

    const a = socket(server, `?token=${tokens.viewer}`)
    const b = socket(server, `?token=${tokens.viewer}`)
    await Promise.all([a, b].map((s) => s.next((f) => f.type === 'hello')))
    await Promise.all([a, b].map((s) => s.subscribe(executionId)))
    await Promise.all([a, b].map((s) => s.streamEnd(executionId)))
    for (const s of [a, b]) expect(s.seqs(executionId)).toEqual(range(6, 10))

    // One refused credential per transport.
    expect((await getJson(`${server.url}/api/executions/${executionId}`)).status).toBe(401)
    expect(await refusedUpgrade(socket(server, '?token=forged'))).toBe(401)
    const frameAuth = socket(server)
    await waitFor(new Promise((r) => frameAuth.ws.once('open', r)), 5000, 'open')
    frameAuth.send({ type: 'auth', token: 'forged' })
    expect(await waitFor(frameAuth.closed, 5000, 'close')).toBe(4001)

    const m = await scrape(server)
    expect(m.get('flowcast_connections')).toBe(2)
    expect(m.get('flowcast_rooms')).toBe(1)
    expect(m.get('flowcast_subscribers')).toBe(2)
    // The room opened after the run: nothing reached it live, all came from the log.
    expect(m.get('flowcast_events_in_total')).toBe(0)
    expect(m.get('flowcast_events_out_total')).toBe(10)
    expect(m.get('flowcast_gaps_total')).toBe(2)
    expect(m.get('flowcast_frames_sent_total')).toBeGreaterThanOrEqual(6)
    expect(m.get('flowcast_bytes_sent_total')).toBeGreaterThan(0)
    expect(m.get('flowcast_auth_failures_total{transport="http"}')).toBe(1)
    expect(m.get('flowcast_auth_failures_total{transport="upgrade"}')).toBe(1)
    expect(m.get('flowcast_auth_failures_total{transport="ws"}')).toBe(1)
    expect(m.get('flowcast_executions{status="completed"}')).toBe(1)
    for (const name of [
      'flowcast_slow_consumer_pauses_total',
      'flowcast_slow_consumer_closes_total',
      'flowcast_bad_frames_total',
      'flowcast_rate_limited_total',
      'flowcast_socket_queued_bytes',
      'flowcast_socket_queued_bytes_peak',
    ])
      expect(m.has(name)).toBe(true)

    // Live events: counted in once per room and out once per subscriber.
    const live = await start(server, 'gated', { before: 0, after: 20 }, API_KEY)
    const c = socket(server, `?token=${API_KEY}`)
    const d = socket(server, `?token=${live.tokens.viewer}`)
    await Promise.all([c, d].map((s) => s.next((f) => f.type === 'hello')))
    await Promise.all([c, d].map((s) => s.subscribe(live.executionId)))
    gate.open()
    await Promise.all([c, d].map((s) => s.streamEnd(live.executionId)))
    const after = await scrape(server)
    expect(c.seqs(live.executionId)).toEqual(range(1, 20))
    expect(d.seqs(live.executionId)).toEqual(range(1, 20))
    expect(after.get('flowcast_events_out_total')).toBe(10 + 40)
    expect(after.get('flowcast_events_in_total')).toBe(20)
    expect(after.get('flowcast_gaps_total')).toBe(2)

    // Another server in the same process shares nothing.
    const o = await scrape(other)
    expect(o.get('flowcast_events_out_total')).toBe(0)
    expect(o.get('flowcast_auth_failures_total{transport="http"}') ?? 0).toBe(0)
  })
})

describe('logs', () => {
  it('carry the execution id and never a token or the API key, not even in a URL', async () => {
    const lines: string[] = []
    const logger = pino(
      { level: 'debug', redact: REDACT },
      {
        write(line: string) {
          lines.push(line)
        },
      },
    )
    const server = await serve({ auth, logger })
    const { executionId, tokens } = await start(server, 'ticker', { count: 3 }, API_KEY)
    expect(
      (
        await getJson(`${server.url}/api/executions/${executionId}/result?wait=5000`, {
          headers: { authorization: `Bearer ${API_KEY}` },
        })
      ).status,
    ).toBe(200)

    const minted = await getJson(`${server.url}/api/tokens`, {
      method: 'POST',
      headers: { authorization: `Bearer ${API_KEY}`, 'content-type': 'application/json' },
      body: JSON.stringify({ executionId, role: 'admin' }),
    })
    const forged = await new SignJWT({ role: 'admin', scope: '*' })
      .setProtectedHeader({ alg: 'HS256' })
      .setExpirationTime('1h')
      .sign(new TextEncoder().encode('not-the-secret-0123456789abcdef0123456'))
    const secrets = [API_KEY, SECRET, tokens.viewer, tokens.admin, minted.body.token, forged]

    const s = socket(server, `?token=${tokens.viewer}`)
    await s.next((f) => f.type === 'hello')
    await s.subscribe(executionId)
    const framed = socket(server)
    await waitFor(new Promise((r) => framed.ws.once('open', r)), 5000, 'open')
    framed.send({ type: 'auth', token: tokens.admin })
    await framed.next((f) => f.type === 'hello')
    const bad = socket(server)
    await waitFor(new Promise((r) => bad.ws.once('open', r)), 5000, 'open')
    bad.send({ type: 'auth', token: forged })
    await waitFor(bad.closed, 5000, 'close')
    expect(await refusedUpgrade(socket(server, `?token=${forged}`))).toBe(401)
    await getJson(`${server.url}/api/executions/${executionId}`, {
      headers: { authorization: `Bearer ${forged}` },
    })
    await getJson(`${server.url}/api/executions/${executionId}?token=${tokens.viewer}`, {
      headers: { authorization: `Bearer ${tokens.viewer}` },
    })
    const page = await fetch(`${server.url}/?execution=${executionId}&token=${tokens.admin}`)
    await page.body?.cancel()
    await s.close()
    await framed.close()
    await server.close()

    const text = lines.join('')
    for (const secret of secrets) expect(text.includes(secret)).toBe(false)
    const records = lines.map((l) => JSON.parse(l))
    const about = records.filter((r) => r.executionId === executionId).map((r) => r.msg)
    expect(about).toEqual(expect.arrayContaining(['execution started', 'execution finished', 'token minted']))
    expect(records.some((r) => r.msg === 'auth failed' && r.transport === 'ws')).toBe(true)
    expect(records.some((r) => r.msg === 'http' && String(r.url).includes('token=[redacted]'))).toBe(true)
  })
})
