/**
 * Cancelling an execution from outside: `POST /api/executions/:id/cancel`, the `cancel` socket
 * frame and `client.cancel(id)`. The execution under test is a model-outline whose model (the
 * local OpenAI-compatible test server, through the real AI SDK) is held mid-answer, so each test
 * also sees the model request's connection close. A viewer may not cancel; DELETE answers 405.
 */
import { afterEach, beforeEach, describe, expect, it } from 'vitest'
import WebSocket from 'ws'
import { createClient } from '../../client-sdk/index.ts'
import { modelOutlineFlow } from '../../flows/catalog/model-outline.ts'
import type { FlowcastServer } from '../../server/index.ts'
import { type FakeOpenAI, startFakeOpenAI } from '../helpers/fake-openai.ts'
import { until, waitFor } from '../helpers/wait.ts'
import { TestSocket } from '../helpers/ws-client.ts'
import { getJson, serve, start } from './fixtures.ts'

const API_KEY = 'cancel-test-api-key-0123456789abcdef'
const SECRET = 'cancel-test-secret-0123456789abcdef0123456789'
const INPUT = { topic: 'rooms', sections: 2, bullets: 2, tokenDelayMs: 0 }
const TEXT = JSON.stringify({
  title: 'Rooms',
  sections: [
    { heading: 'A', bullets: ['x', 'y'] },
    { heading: 'B', bullets: ['z', 'w'] },
  ],
})

let fake: FakeOpenAI
let release: () => void
const sockets: TestSocket[] = []
beforeEach(async () => {
  fake = await startFakeOpenAI()
})
afterEach(async () => {
  release?.()
  await Promise.all(sockets.splice(0).map((s) => s.close()))
  await fake.close()
})

/** A server with auth on whose model-outline talks to the fake model, and one execution held after 6 deltas. */
async function scene() {
  const flow = modelOutlineFlow({
    model: { baseURL: fake.baseURL, model: 'fake-model' },
    retry: { attempts: 1 },
  })
  const server = await serve({ flows: [flow], auth: { apiKey: API_KEY, secret: SECRET } })
  fake.reply({
    kind: 'stream',
    text: TEXT,
    deltas: [1],
    after: 6,
    gate: new Promise<void>((r) => (release = r)),
  })
  const started = await start(server, 'model-outline', INPUT, API_KEY)
  await until(() => fake.requests[0]?.sent === 6, 10_000, 'the model to reach the gate')
  return { server, started, id: started.executionId as string }
}

const post = (server: FlowcastServer, path: string, token: string) =>
  getJson(`${server.url}${path}`, { method: 'POST', headers: { authorization: `Bearer ${token}` } })

async function expectCancelled(server: FlowcastServer, id: string, token: string) {
  expect(await waitFor(fake.requests[0]!.closed, 5000, 'the model request to close')).toStrictEqual({
    finished: false,
  })
  const result = await getJson(`${server.url}/api/executions/${id}/result?wait=5000`, {
    headers: { authorization: `Bearer ${token}` },
  })
  expect(result.body).toMatchObject({ status: 'cancelled' })
}

describe('cancel an execution from outside', () => {
  it('POST /api/executions/:id/cancel (admin) aborts the model request; again answers alreadyEnded', async () => {
    const { server, started, id } = await scene()
    const viewer = await post(server, `/api/executions/${id}/cancel`, started.tokens.viewer)
    expect(viewer).toMatchObject({ status: 403, body: { error: { code: 'forbidden' } } })
    expect(fake.requests[0]!.sent).toBe(6)

    expect(await post(server, `/api/executions/${id}/cancel`, started.tokens.admin)).toStrictEqual({
      status: 200,
      body: { executionId: id, cancelled: true },
    })
    await expectCancelled(server, id, started.tokens.admin)
    expect(await post(server, `/api/executions/${id}/cancel`, started.tokens.admin)).toStrictEqual({
      status: 200,
      body: { executionId: id, alreadyEnded: true },
    })
    expect(await post(server, '/api/executions/nope/cancel', API_KEY)).toMatchObject({
      status: 404,
      body: { error: { code: 'not_found' } },
    })
  })

  it('the cancel socket frame (admin) aborts the model request; a viewer socket is refused and stays open', async () => {
    const { server, started, id } = await scene()
    const ws = (token: string) => `${server.url.replace(/^http/, 'ws')}/ws?token=${encodeURIComponent(token)}`
    const viewer = new TestSocket(ws(started.tokens.viewer))
    const admin = new TestSocket(ws(started.tokens.admin))
    sockets.push(viewer, admin)
    await viewer.next((f) => f.type === 'hello')
    await admin.next((f) => f.type === 'hello')
    expect(await viewer.request({ type: 'cancel', executionId: id })).toMatchObject({
      type: 'error',
      code: 'forbidden',
    })
    expect(await viewer.request({ type: 'ping' })).toMatchObject({ type: 'pong' })

    await admin.subscribe(id)
    expect(await admin.request({ type: 'cancel', executionId: id })).toMatchObject({
      type: 'ack',
      executionId: id,
      cancelled: true,
    })
    expect(await admin.streamEnd(id)).toMatchObject({ reason: 'cancelled' })
    await expectCancelled(server, id, started.tokens.admin)
    expect(await admin.request({ type: 'cancel', executionId: id })).toMatchObject({
      type: 'ack',
      alreadyEnded: true,
    })
  })

  it('client.cancel(id) in the SDK', async () => {
    const { server, started, id } = await scene()
    const client = createClient({ url: server.url, token: started.tokens.admin, WebSocket })
    try {
      expect(await client.cancel(id)).toStrictEqual({ cancelled: true })
      await expectCancelled(server, id, started.tokens.admin)
      expect(await client.cancel(id)).toStrictEqual({ alreadyEnded: true })
    } finally {
      client.close()
    }
  })

  it('DELETE /api/executions/:id answers 405 method_not_allowed and changes nothing', async () => {
    const { server, started, id } = await scene()
    const res = await fetch(`${server.url}/api/executions/${id}`, {
      method: 'DELETE',
      headers: { authorization: `Bearer ${started.tokens.admin}` },
    })
    expect(res.status).toBe(405)
    expect(res.headers.get('allow')).toBe('GET')
    expect(await res.json()).toMatchObject({ error: { code: 'method_not_allowed' } })
    const snap = await getJson(`${server.url}/api/executions/${id}`, {
      headers: { authorization: `Bearer ${started.tokens.admin}` },
    })
    expect(snap.body).toMatchObject({ status: 'running' })
    release()
    const result = await getJson(`${server.url}/api/executions/${id}/result?wait=10000`, {
      headers: { authorization: `Bearer ${started.tokens.admin}` },
    })
    expect(result.body).toMatchObject({ status: 'completed' })
  })
})
