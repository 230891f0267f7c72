/**
 * Bad input, each case on its own: a typed error reply, the offending connection stays open,
 * and a healthy subscriber on the same execution misses nothing.
 *
 * `since` rules: a negative or fractional `since` fails the frame's schema (`bad_frame`); an
 * integer beyond the execution's last seq is well-formed but impossible (`invalid_since`).
 */
import { afterEach, describe, expect, it } from 'vitest'
import type { FlowcastServer } from '../../server/index.ts'
import { waitFor } from '../helpers/wait.ts'
import { type Frame, range, TestSocket } from '../helpers/ws-client.ts'
import { Gate, getJson, serve, start } from './fixtures.ts'

const sockets: TestSocket[] = []
afterEach(async () => {
  await Promise.all(sockets.splice(0).map((s) => s.close()))
})

interface Scene {
  server: FlowcastServer
  executionId: string
  bad: TestSocket
  /** Lets the flow finish and checks the healthy subscriber got 1..N and stream_end. */
  finish(): Promise<void>
}

/** A gated execution with 3 events out and 5 to come, a healthy watcher, and a socket to misbehave. */
async function scene(limits?: { maxPayload?: number }): Promise<Scene> {
  const gate = new Gate()
  const server = await serve({ gate, ...(limits ? { limits } : {}) })
  const { executionId } = await start(server, 'gated', { before: 3, after: 5 })
  const healthy = await TestSocket.open(server.url)
  const bad = await TestSocket.open(server.url)
  sockets.push(healthy, bad)
  await healthy.subscribe(executionId)
  return {
    server,
    executionId,
    bad,
    async finish() {
      gate.open()
      await healthy.streamEnd(executionId)
      expect(healthy.seqs(executionId)).toEqual(range(1, 8))
      expect(healthy.ofType('error')).toEqual([])
      expect(healthy.closeCode).toBeUndefined()
    },
  }
}

/** The socket still answers a ping after its error. */
async function stillOpen(s: TestSocket): Promise<void> {
  expect((await s.request({ type: 'ping' })).type).toBe('pong')
  expect(s.closeCode).toBeUndefined()
}

async function errorReply(s: TestSocket, send: () => void): Promise<Frame> {
  const before = s.ofType('error').length
  send()
  return s.until(() => s.ofType('error')[before], 5000, 'an error frame')
}

describe('bad input over the socket', () => {
  it('malformed JSON -> bad_frame', async () => {
    const sc = await scene()
    const err = await errorReply(sc.bad, () => sc.bad.send('{"type":"subscribe",'))
    expect(err).toMatchObject({ type: 'error', code: 'bad_frame' })
    await stillOpen(sc.bad)
    await sc.finish()
  })

  it('a JSON value that is not an object -> bad_frame', async () => {
    const sc = await scene()
    const err = await errorReply(sc.bad, () => sc.bad.send('[1,2,3]'))
    expect(err).toMatchObject({ code: 'bad_frame' })
    await stillOpen(sc.bad)
    await sc.finish()
  })

  it('a binary frame -> bad_frame', async () => {
    const sc = await scene()
    const err = await errorReply(sc.bad, () =>
      sc.bad.send(Buffer.from(JSON.stringify({ type: 'ping', id: 1 })), { binary: true }),
    )
    expect(err).toMatchObject({ code: 'bad_frame' })
    expect(err.message).toMatch(/binary/)
    await stillOpen(sc.bad)
    await sc.finish()
  })

  it('an unknown type -> unknown_type, echoing the id', async () => {
    const sc = await scene()
    const err = await errorReply(sc.bad, () => sc.bad.send({ type: 'launch_missiles', id: 'r1' }))
    expect(err).toMatchObject({ code: 'unknown_type', id: 'r1' })
    await stillOpen(sc.bad)
    await sc.finish()
  })

  it('wrong field types -> bad_frame naming the field', async () => {
    const sc = await scene()
    const err = await errorReply(sc.bad, () => sc.bad.send({ type: 'subscribe', id: 7, executionId: 42 }))
    expect(err).toMatchObject({ code: 'bad_frame', id: 7 })
    expect(err.message).toContain('executionId')
    const extra = await errorReply(sc.bad, () => sc.bad.send({ type: 'ping', id: 8, surprise: true }))
    expect(extra).toMatchObject({ code: 'bad_frame', id: 8 })
    await stillOpen(sc.bad)
    await sc.finish()
  })

  it('subscribe to an unknown execution -> not_found', async () => {
    const sc = await scene()
    const err = await sc.bad.request({ type: 'subscribe', executionId: 'no-such-execution' })
    expect(err).toMatchObject({ type: 'error', code: 'not_found', executionId: 'no-such-execution' })
    await stillOpen(sc.bad)
    await sc.finish()
  })

  it('a second subscribe to the same execution on one socket -> already_subscribed, the first stays', async () => {
    const sc = await scene()
    await sc.bad.subscribe(sc.executionId)
    const err = await sc.bad.request({ type: 'subscribe', executionId: sc.executionId, since: 0 })
    expect(err).toMatchObject({ code: 'already_subscribed' })
    await stillOpen(sc.bad)
    await sc.finish()
    await sc.bad.streamEnd(sc.executionId)
    // The first subscription delivered everything exactly once.
    expect(sc.bad.seqs(sc.executionId)).toEqual(range(1, 8))
  })

  it('unsubscribe of something not subscribed -> not_subscribed', async () => {
    const sc = await scene()
    const err = await sc.bad.request({ type: 'unsubscribe', executionId: sc.executionId })
    expect(err).toMatchObject({ code: 'not_subscribed' })
    await stillOpen(sc.bad)
    await sc.finish()
  })

  it('a negative since -> bad_frame', async () => {
    const sc = await scene()
    const err = await sc.bad.request({ type: 'subscribe', executionId: sc.executionId, since: -1 })
    expect(err).toMatchObject({ code: 'bad_frame' })
    await stillOpen(sc.bad)
    await sc.finish()
  })

  it('a fractional since -> bad_frame', async () => {
    const sc = await scene()
    const err = await sc.bad.request({ type: 'subscribe', executionId: sc.executionId, since: 1.5 })
    expect(err).toMatchObject({ code: 'bad_frame' })
    await stillOpen(sc.bad)
    await sc.finish()
  })

  it('a since beyond the last seq -> invalid_since, and a valid subscribe afterwards works', async () => {
    const sc = await scene()
    const err = await sc.bad.request({ type: 'subscribe', executionId: sc.executionId, since: 4 })
    expect(err).toMatchObject({ code: 'invalid_since', executionId: sc.executionId })
    expect(err.message).toBe('since must be an integer from 0 to the last seq (3), got 4')
    await stillOpen(sc.bad)
    await sc.bad.subscribe(sc.executionId, 3)
    await sc.finish()
    await sc.bad.streamEnd(sc.executionId)
    expect(sc.bad.seqs(sc.executionId)).toEqual(range(4, 8))
  })

  it('stop_stream and continue on unknown targets -> not_found / interrupt_not_found', async () => {
    const sc = await scene()
    expect(await sc.bad.request({ type: 'stop_stream', executionId: 'nope' })).toMatchObject({
      code: 'not_found',
    })
    expect(
      await sc.bad.request({ type: 'continue', executionId: sc.executionId, interruptId: 'nope', value: 1 }),
    ).toMatchObject({ code: 'interrupt_not_found' })
    await stillOpen(sc.bad)
    await sc.finish()
  })

  it('a frame over maxPayload closes that socket with 1009, nobody else', async () => {
    const sc = await scene({ maxPayload: 1024 })
    sc.bad.send({ type: 'ping', id: 'x'.repeat(2000) })
    expect(await waitFor(sc.bad.closed, 5_000, 'the 1009 close')).toBe(1009)
    await sc.finish()
  })

  it('too many commands per second -> rate_limited, and the socket stays', async () => {
    const gate = new Gate()
    const server = await serve({ gate, limits: { commandsPerSecond: 5 } })
    const s = await TestSocket.open(server.url)
    sockets.push(s)
    for (let i = 0; i < 20; i++) s.send({ type: 'ping', id: i })
    await s.until(() => s.ofType('pong').length + s.ofType('error').length === 20)
    expect(s.ofType('error').every((e) => e.code === 'rate_limited')).toBe(true)
    expect(s.ofType('error').length).toBeGreaterThan(0)
    expect(s.closeCode).toBeUndefined()
    const health = await getJson(`${server.url}/healthz`)
    expect(health.status).toBe(200)
  })
})
