/**
 * Stream tickets (issue 12): a browser's `EventSource` sends no headers, so it opens the SSE route
 * with `?ticket=`, a short-lived credential traded for a token at
 * `POST /api/executions/:id/stream-ticket`. A ticket opens that one execution's stream and nothing
 * else (no other route, no header, no socket, no other execution), not after its expiry, and the
 * stream it opened ends with `token_expired` when the traded token runs out.
 */
import { afterEach, describe, expect, it } from 'vitest'
import type { FlowcastServer } from '../../server/index.ts'
import { redactUrl } from '../../server/log.ts'
import { readSse, type SseRead, sseSeqs } from '../helpers/sse-client.ts'
import { until } from '../helpers/wait.ts'
import { TestSocket } from '../helpers/ws-client.ts'
import { Gate, getJson, serve, start } from './fixtures.ts'

const API_KEY = 'ticket-test-api-key-0123456789abcdef'
const SECRET = 'ticket-test-secret-0123456789abcdef0123456789'
const auth = { apiKey: API_KEY, secret: SECRET }

const open: { close(): unknown }[] = []
afterEach(async () => {
  for (const r of open.splice(0)) await r.close()
})

const bearer = (credential: string) => ({ authorization: `Bearer ${credential}` })

/** Trades `token` for a ticket of `id`; returns the answer's status and body. */
async function ticketFor(server: FlowcastServer, id: string, token: string) {
  return getJson(`${server.url}/api/executions/${id}/stream-ticket`, {
    method: 'POST',
    headers: bearer(token),
  })
}

function sse(url: string, headers?: Record<string, string>): Promise<SseRead> {
  return readSse(url, headers).then((read) => {
    open.push({ close: () => read.abort() })
    return read
  })
}

describe('stream tickets', () => {
  it('a ticket traded for a viewer token opens that execution’s SSE stream without a header, with exact seqs', async () => {
    const gate = new Gate()
    const server = await serve({ gate, auth })
    const a = await start(server, 'gated', { before: 3, after: 2 }, API_KEY)
    const got = await ticketFor(server, a.executionId, a.tokens.viewer)
    expect(got.status).toBe(201)
    expect(got.body).toMatchObject({ executionId: a.executionId, ticket: expect.any(String) })
    const expiresAt = Date.parse(got.body.expiresAt)
    expect(expiresAt).toBeGreaterThan(Date.now())
    expect(expiresAt).toBeLessThanOrEqual(Date.now() + server.limits.streamTicketTtlMs + 1000)
    expect(got.body.stream).toBe(`/api/executions/${a.executionId}/stream?ticket=${got.body.ticket}`)
    expect(redactUrl(got.body.stream)).toBe(`/api/executions/${a.executionId}/stream?ticket=[redacted]`)

    const read = await sse(`${server.url}${got.body.stream}`)
    expect(read.status).toBe(200)
    await until(() => sseSeqs(read.messages).length === 3, 5000, 'the replay')
    gate.open()
    await read.done
    expect(sseSeqs(read.messages)).toEqual([1, 2, 3, 4, 5])
    expect(read.messages.at(-1)?.event).toBe('stream_end')
    // Resume with Last-Event-ID works with the ticket too (EventSource sends it on reconnect).
    const again = await sse(`${server.url}${got.body.stream}`, { 'last-event-id': '3' })
    await again.done
    expect(sseSeqs(again.messages)).toEqual([4, 5])
  })

  it('a ticket is refused everywhere else: other routes, a header, the socket, another execution', async () => {
    const gate = new Gate()
    const server = await serve({ gate, auth })
    const a = await start(server, 'gated', { before: 1, after: 0 }, API_KEY)
    const b = await start(server, 'gated', { before: 1, after: 0 }, API_KEY)
    const { ticket } = (await ticketFor(server, a.executionId, a.tokens.admin)).body
    const base = `${server.url}/api/executions/${a.executionId}`
    const q = `?ticket=${ticket}`

    for (const path of ['', '/result', '/events']) {
      expect((await getJson(`${base}${path}${q}`)).status).toBe(401)
      expect((await getJson(`${base}${path}`, { headers: bearer(ticket) })).status).toBe(401)
    }
    for (const path of ['/stop-stream', '/cancel', '/stream-ticket']) {
      expect((await getJson(`${base}${path}${q}`, { method: 'POST' })).status).toBe(401)
      expect((await getJson(`${base}${path}`, { method: 'POST', headers: bearer(ticket) })).status).toBe(401)
    }
    // As a header on the SSE route itself: a ticket is not a bearer token.
    expect((await sse(`${base}/stream`, bearer(ticket))).status).toBe(401)
    // Another execution's stream: forbidden, whatever the traded token was.
    const other = await sse(`${server.url}/api/executions/${b.executionId}/stream${q}`)
    expect(other.status).toBe(403)
    // The socket: neither `?token=` nor an auth frame nor a subscribe frame's token takes one.
    const upgrade = new TestSocket(`${server.url.replace(/^http/, 'ws')}/ws?token=${ticket}`)
    open.push(upgrade)
    expect(await upgrade.upgradeStatus()).toBe(401)
    const framed = new TestSocket(`${server.url.replace(/^http/, 'ws')}/ws`)
    open.push(framed)
    framed.ws.on('open', () => framed.send({ type: 'auth', token: ticket }))
    expect(await framed.closed).toBe(4001)
    const s = new TestSocket(`${server.url.replace(/^http/, 'ws')}/ws?token=${a.tokens.viewer}`)
    open.push(s)
    await s.next((f) => f.type === 'hello')
    expect(await s.request({ type: 'subscribe', executionId: a.executionId, token: ticket })).toMatchObject({
      type: 'error',
      code: 'unauthorized',
    })
    // Nothing was stopped by all that.
    expect((await getJson(base, { headers: bearer(API_KEY) })).body.streamOpen).toBe(true)
    // The route needs a credential that may read the execution; a viewer of A gets none for B.
    expect((await ticketFor(server, b.executionId, a.tokens.viewer)).status).toBe(403)
    expect((await ticketFor(server, a.executionId, 'not-a-token')).status).toBe(401)
    gate.open()
  })

  it('a ticket is refused after its expiry, and never outlives the token it was traded for', async () => {
    const server = await serve({ auth, limits: { streamTicketTtlMs: 1000 } })
    const a = await start(server, 'gated', { before: 1, after: 0 }, API_KEY)
    const got = (await ticketFor(server, a.executionId, a.tokens.viewer)).body
    const expiresAt = Date.parse(got.expiresAt)
    await until(() => Date.now() >= expiresAt, 5000, 'the ticket expiry')
    const late = await getJson(`${server.url}${got.stream}`)
    expect(late).toMatchObject({ status: 401, body: { error: { code: 'unauthorized' } } })

    const long = await serve({ auth })
    const b = await start(long, 'gated', { before: 1, after: 0 }, API_KEY)
    const short = (await long.mintToken(b.executionId, 'viewer', 2))!
    const tokenExp = JSON.parse(Buffer.from(short.split('.')[1]!, 'base64url').toString()).exp * 1000
    const ticket = (await ticketFor(long, b.executionId, short)).body
    expect(Date.parse(ticket.expiresAt)).toBeLessThanOrEqual(tokenExp)
  })

  it('an SSE stream ends with token_expired when the token behind it runs out', async () => {
    const gate = new Gate()
    const server = await serve({ gate, auth })
    const a = await start(server, 'gated', { before: 2, after: 1 }, API_KEY)
    const short = (await server.mintToken(a.executionId, 'viewer', 2))!
    const tokenExp = JSON.parse(Buffer.from(short.split('.')[1]!, 'base64url').toString()).exp * 1000
    for (const read of [
      await sse(`${server.url}${(await ticketFor(server, a.executionId, short)).body.stream}`),
      await sse(`${server.url}/api/executions/${a.executionId}/stream`, bearer(short)),
    ]) {
      expect(read.status).toBe(200)
      await until(
        () => read.messages.some((m) => m.event === 'error'),
        tokenExp - Date.now() + 5000,
        'the end',
      )
      await read.done
      expect(Date.now()).toBeGreaterThanOrEqual(tokenExp)
      const last = read.messages.at(-1)!
      expect(last.event).toBe('error')
      expect(JSON.parse(last.data)).toMatchObject({
        type: 'error',
        code: 'token_expired',
        executionId: a.executionId,
      })
      expect(sseSeqs(read.messages)).toEqual([1, 2])
    }
    expect(
      (await getJson(`${server.url}/api/executions/${a.executionId}`, { headers: bearer(API_KEY) })).body
        .subscribers,
    ).toBe(0)
    gate.open()
  })
})
