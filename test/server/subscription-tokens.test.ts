/**
 * Per-subscription tokens over one real socket (issue 12): a subscribe frame's own token decides
 * that subscription's rights (a viewer of A and an admin of B side by side), commands are allowed
 * by the token of that execution's subscription or the frame's own, and a subscription whose
 * token runs out while it is open is ended by the server with `token_expired` about a second
 * after the expiry, released at once, while the socket and its other subscriptions carry on.
 */
import { afterEach, describe, expect, it } from 'vitest'
import type { FlowcastServer } from '../../server/index.ts'
import { TestSocket } from '../helpers/ws-client.ts'
import { Gate, getJson, serve, start } from './fixtures.ts'

const API_KEY = 'sub-token-test-api-key-0123456789abcdef'
const SECRET = 'sub-token-test-secret-0123456789abcdef0123456789'
const auth = { apiKey: API_KEY, secret: SECRET }
const bearer = { authorization: `Bearer ${API_KEY}` }

const sockets: TestSocket[] = []
afterEach(async () => {
  await Promise.all(sockets.splice(0).map((s) => s.close()))
})

/** A socket authenticated with `?token=`, after its hello. */
async function withToken(server: FlowcastServer, token: string): Promise<TestSocket> {
  const s = new TestSocket(`${server.url.replace(/^http/, 'ws')}/ws?token=${encodeURIComponent(token)}`)
  sockets.push(s)
  await s.next((f) => f.type === 'hello')
  return s
}

/** The `exp` claim of a token, in ms. */
function expiresAtMs(token: string): number {
  return JSON.parse(Buffer.from(token.split('.')[1]!, 'base64url').toString('utf8')).exp * 1000
}

async function subscribers(server: FlowcastServer, id: string): Promise<number> {
  return (await getJson(`${server.url}/api/executions/${id}`, { headers: bearer })).body.subscribers
}

describe('per-subscription tokens', () => {
  it('a viewer token for A and an admin token for B work over one socket; commands use the subscription token', async () => {
    const gate = new Gate()
    const server = await serve({ gate, auth })
    const a = await start(server, 'gated', { before: 2, after: 1 }, API_KEY)
    const b = await start(server, 'gated', { before: 2, after: 1 }, API_KEY)
    const c = await start(server, 'ask', undefined, API_KEY)
    const s = await withToken(server, a.tokens.viewer)

    expect((await s.subscribe(a.executionId)).type).toBe('subscribed')
    // The socket's viewer token of A reads nothing of B ...
    expect(await s.request({ type: 'subscribe', executionId: b.executionId })).toMatchObject({
      type: 'error',
      code: 'forbidden',
    })
    // ... but the frame's own admin token of B does, and only for B.
    const subB = await s.request({ type: 'subscribe', executionId: b.executionId, token: b.tokens.admin })
    expect(subB.type).toBe('subscribed')
    await s.until(() => s.seqs(b.executionId).length === 2, 5000, 'B replayed')

    // A is a viewer's: stop refused. B's subscription is an admin's: stop allowed with no token in the frame.
    expect(await s.request({ type: 'stop_stream', executionId: a.executionId })).toMatchObject({
      type: 'error',
      code: 'forbidden',
    })
    expect(await s.request({ type: 'stop_stream', executionId: b.executionId })).toMatchObject({
      type: 'ack',
      stopped: true,
    })
    expect(await s.streamEnd(b.executionId)).toMatchObject({ reason: 'stopped', by: 'admin' })

    // A command's own token decides for it: a viewer's is refused, an admin's (unsubscribed) allowed.
    expect(
      await s.request({
        type: 'continue',
        executionId: c.executionId,
        interruptId: 'x',
        token: c.tokens.viewer,
      }),
    ).toMatchObject({ type: 'error', code: 'forbidden' })
    const snap = await getJson(`${server.url}/api/executions/${c.executionId}`, { headers: bearer })
    const interruptId = snap.body.pendingInterrupts[0].id
    expect(
      await s.request({
        type: 'continue',
        executionId: c.executionId,
        interruptId,
        value: { ok: true },
        token: c.tokens.admin,
      }),
    ).toMatchObject({ type: 'ack', continued: true })
    // A forged frame token is refused as such, and changes nothing else.
    expect(
      await s.request({ type: 'subscribe', executionId: b.executionId, token: `${b.tokens.admin}x` }),
    ).toMatchObject({ type: 'error', code: 'unauthorized', executionId: b.executionId })

    // A's viewer subscription went on untouched: it completes with every seq.
    gate.open()
    expect(await s.streamEnd(a.executionId)).toMatchObject({ reason: 'completed' })
    expect(s.seqs(a.executionId)).toEqual([1, 2, 3])
    expect(s.ofType('error').filter((f) => f.id === undefined)).toEqual([])
  })

  it('a subscription whose token expires is ended with token_expired within seconds; the others carry on', async () => {
    const gate = new Gate()
    const server = await serve({ gate, auth })
    const a = await start(server, 'gated', { before: 2, after: 1 }, API_KEY)
    const b = await start(server, 'gated', { before: 2, after: 1 }, API_KEY)
    const s = await withToken(server, (await server.mintToken('*', 'viewer', 3600))!)
    const short = (await server.mintToken(a.executionId, 'viewer', 2))!
    const expiresAt = expiresAtMs(short)

    await s.request({ type: 'subscribe', executionId: a.executionId, token: short })
    await s.subscribe(b.executionId)
    await s.until(() => s.seqs(a.executionId).length === 2 && s.seqs(b.executionId).length === 2)
    expect(await subscribers(server, a.executionId)).toBe(1)

    const ended = await s.next(
      (f) => f.type === 'error' && f.code === 'token_expired',
      expiresAt - Date.now() + 5000,
      'token_expired',
    )
    const at = Date.now()
    expect(ended).toMatchObject({ executionId: a.executionId })
    expect(ended.id).toBeUndefined()
    // Not before the token ran out; the upper bound is the wait's own.
    expect(at).toBeGreaterThanOrEqual(expiresAt)
    // Released at once: the room no longer counts it, and the socket may subscribe again.
    expect(await subscribers(server, a.executionId)).toBe(0)
    expect(await s.request({ type: 'unsubscribe', executionId: a.executionId })).toMatchObject({
      code: 'not_subscribed',
    })
    // The expired token is refused as expired; a fresh one resumes from the last seq.
    expect(await s.request({ type: 'subscribe', executionId: a.executionId, token: short })).toMatchObject({
      type: 'error',
      code: 'token_expired',
    })
    const fresh = (await server.mintToken(a.executionId, 'viewer', 3600))!
    const again = await s.request({ type: 'subscribe', executionId: a.executionId, since: 2, token: fresh })
    expect(again.type).toBe('subscribed')

    gate.open()
    await s.streamEnd(a.executionId)
    await s.streamEnd(b.executionId)
    expect(s.seqs(a.executionId)).toEqual([1, 2, 3])
    expect(s.seqs(b.executionId)).toEqual([1, 2, 3])
    expect(s.ofType('error').filter((f) => f.code === 'token_expired' && f.id === undefined)).toHaveLength(1)
  })

  it("the socket's own token expiring ends its subscriptions and refuses its commands; the socket stays open", async () => {
    const gate = new Gate()
    const server = await serve({ gate, auth })
    const a = await start(server, 'gated', { before: 2, after: 1 }, API_KEY)
    const short = (await server.mintToken(a.executionId, 'admin', 2))!
    const s = await withToken(server, short)
    await s.subscribe(a.executionId)
    const ended = await s.next(
      (f) => f.type === 'error' && f.code === 'token_expired',
      expiresAtMs(short) - Date.now() + 5000,
      'token_expired',
    )
    expect(ended).toMatchObject({ executionId: a.executionId })
    expect(await s.request({ type: 'stop_stream', executionId: a.executionId })).toMatchObject({
      type: 'error',
      code: 'token_expired',
    })
    expect(await s.request({ type: 'subscribe', executionId: a.executionId })).toMatchObject({
      type: 'error',
      code: 'token_expired',
    })
    expect(await s.request({ type: 'ping' })).toMatchObject({ type: 'pong' })
    const fresh = (await server.mintToken(a.executionId, 'admin', 3600))!
    expect(await s.request({ type: 'stop_stream', executionId: a.executionId, token: fresh })).toMatchObject({
      type: 'ack',
      stopped: true,
    })
    gate.open()
  })
})
