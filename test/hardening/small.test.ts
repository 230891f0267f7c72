/**
 * Issue 14 point 8: a token without `exp` is refused; an unsolicited pong is not liveness;
 * /metrics shows heap and retained bytes; the startup line names the broker (a Redis URL redacted).
 */
import { SignJWT } from 'jose'
import { pino } from 'pino'
import { afterEach, describe, expect, it } from 'vitest'
import WebSocket from 'ws'
import { redactUrl } from '../../server/log.ts'
import { metric } from '../helpers/metrics.ts'
import { waitFor } from '../helpers/wait.ts'
import { getJson, serve, start } from '../server/fixtures.ts'

const API_KEY = 'small-api-key-0123456789abcdef0123'
const SECRET = 'small-secret-0123456789abcdef0123456789abc'
const auth = { apiKey: API_KEY, secret: SECRET }

const clients: WebSocket[] = []
afterEach(() => {
  for (const c of clients.splice(0)) c.terminate()
})

describe('tokens', () => {
  it('a correctly signed token without exp is refused (401), one with exp is accepted', async () => {
    const server = await serve({ auth })
    const { executionId } = await start(server, 'ticker', { count: 1 }, API_KEY)
    const key = new TextEncoder().encode(SECRET)
    const base = () =>
      new SignJWT({ role: 'viewer', scope: executionId })
        .setProtectedHeader({ alg: 'HS256' })
        .setIssuer('flowcast')
        .setAudience('flowcast-stream')
        .setIssuedAt()
    const forever = await base().sign(key)
    const expiring = await base().setExpirationTime('60s').sign(key)
    const url = `${server.url}/api/executions/${executionId}`
    const refused = await getJson(url, { headers: { authorization: `Bearer ${forever}` } })
    expect(refused.status).toBe(401)
    expect(refused.body.error.code).toBe('unauthorized')
    expect((await getJson(url, { headers: { authorization: `Bearer ${expiring}` } })).status).toBe(200)
  })
})

describe('heartbeat', () => {
  it('a client that sends pongs on its own but never answers a ping is terminated', async () => {
    const server = await serve({ limits: { heartbeatMs: 100 } })
    const ws = new WebSocket(`${server.url.replace(/^http/, 'ws')}/ws`, { autoPong: false })
    clients.push(ws)
    await waitFor(new Promise((r) => ws.once('open', r)), 5000, 'open')
    const closed = new Promise<number>((r) => ws.once('close', (code) => r(code)))
    // Unsolicited pongs, faster than the heartbeat: they must not keep the socket alive.
    const timer = setInterval(() => {
      if (ws.readyState === ws.OPEN) ws.pong(Buffer.from('alive'))
    }, 20)
    try {
      expect(await waitFor(closed, 5000, 'the terminate')).toBe(1006)
    } finally {
      clearInterval(timer)
    }
  })
})

describe('observability', () => {
  it('/metrics has heap and retained-bytes gauges; the startup line names the broker', async () => {
    const lines: any[] = []
    const logger = pino({ level: 'info' }, { write: (l: string) => void lines.push(JSON.parse(l)) })
    const server = await serve({ logger })
    const listening = lines.find((l) => l.msg === 'listening')
    expect(listening.broker).toBe('memory')
    const { executionId } = await start(server, 'ticker', { count: 20 })
    await getJson(`${server.url}/api/executions/${executionId}/result?wait=5000`)
    expect(await metric(server.url, 'flowcast_retained_bytes')).toBeGreaterThan(20 * 10)
    expect(await metric(server.url, 'flowcast_heap_used_bytes')).toBeGreaterThan(1024 * 1024)
    expect(redactUrl('redis://user:hunter2@db.example:6379/0')).toBe('redis://[redacted]@db.example:6379/0')
  })
})
