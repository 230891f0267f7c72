/**
 * Every limit of the hardening issue, each at its edge over real sockets: HTTP body size (413),
 * inbound frame size (1009), subscriptions per socket, commands per second (rate_limited, then
 * 4029 on sustained abuse), connections per client address (429), live executions (429) and
 * retained events and bytes per execution (gap). Each offender is hurt alone.
 */
import net from 'node:net'
import { afterEach, describe, expect, it } from 'vitest'
import { DEFAULT_LIMITS, type FlowcastServer } from '../../server/index.ts'
import { metric } from '../helpers/metrics.ts'
import { eventually } from '../helpers/poll.ts'
import { waitFor } from '../helpers/wait.ts'
import { range, TestSocket } from '../helpers/ws-client.ts'
import { Gate, getJson, serve, start } from './fixtures.ts'

const sockets: TestSocket[] = []
afterEach(async () => {
  await Promise.all(sockets.splice(0).map((s) => s.close()))
})

async function open(server: FlowcastServer): Promise<TestSocket> {
  const s = await TestSocket.open(server.url)
  sockets.push(s)
  return s
}

describe('limits', () => {
  it('documents sane defaults', () => {
    expect(DEFAULT_LIMITS).toMatchObject({
      maxPayload: 64 * 1024,
      maxBodyBytes: 1024 * 1024,
      maxSubscriptions: 64,
      commandsPerSecond: 50,
      rateLimitCloseAfter: 100,
      maxConnectionsPerAddress: 1000,
      authTimeoutMs: 5000,
    })
  })

  it('an HTTP body over maxBodyBytes answers 413 payload_too_large, with or without a length', async () => {
    const server = await serve({ limits: { maxBodyBytes: 1024 } })
    const url = `${server.url}/api/flows/ticker/executions`
    const big = JSON.stringify({ input: { count: 1, pad: 'x'.repeat(2000) } })
    const sized = await getJson(url, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: big,
    })
    expect(sized).toMatchObject({ status: 413, body: { error: { code: 'payload_too_large' } } })
    const chunked = await getJson(url, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: new Blob([big]).stream(),
      duplex: 'half',
    } as RequestInit)
    expect(chunked).toMatchObject({ status: 413, body: { error: { code: 'payload_too_large' } } })
    // Under the limit still works.
    const ok = await getJson(url, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ input: { count: 1 } }),
    })
    expect(ok.status).toBe(201)
  })

  it('a frame over maxPayload closes that socket with 1009; the others go on', async () => {
    const server = await serve({ limits: { maxPayload: 2048 } })
    const bad = await open(server)
    const good = await open(server)
    bad.send({ type: 'ping', id: 1, pad: 'x'.repeat(4096) })
    expect(await waitFor(bad.closed, 5_000, 'the 1009 close')).toBe(1009)
    expect((await good.request({ type: 'ping' })).type).toBe('pong')
  })

  it('subscriptions per socket: one over maxSubscriptions answers too_many_subscriptions; the socket stays', async () => {
    const server = await serve({ limits: { maxSubscriptions: 2 } })
    const ids = await Promise.all([1, 2, 3].map(() => start(server, 'ticker', { count: 1 })))
    const s = await open(server)
    await s.subscribe(ids[0].executionId)
    await s.subscribe(ids[1].executionId)
    expect(await s.request({ type: 'subscribe', executionId: ids[2].executionId })).toMatchObject({
      type: 'error',
      code: 'too_many_subscriptions',
    })
    await s.request({ type: 'unsubscribe', executionId: ids[0].executionId })
    await s.subscribe(ids[2].executionId)
    expect(s.closeCode).toBeUndefined()
  })

  it('commands per second: over the bucket answers rate_limited; sustained abuse closes 4029', async () => {
    const server = await serve({ limits: { commandsPerSecond: 5, rateLimitCloseAfter: 30 } })
    const polite = await open(server)
    const abuser = await open(server)
    // A burst of 20: 5 pass, 15 are refused with rate_limited (under the close threshold).
    for (let i = 0; i < 20; i++) abuser.send({ type: 'ping', id: i })
    await abuser.until(() => abuser.ofType('pong').length + abuser.ofType('error').length === 20)
    const errors = abuser.ofType('error')
    expect(errors.length).toBeGreaterThanOrEqual(14)
    expect(errors.every((e) => e.code === 'rate_limited' && typeof e.id === 'number')).toBe(true)
    expect(abuser.closeCode).toBeUndefined()
    // Keep hammering, malformed frames included: consecutive refusals reach the threshold.
    for (let i = 0; i < 60; i++) abuser.send(i % 2 ? 'not json' : { type: 'ping', id: 100 + i })
    expect(await waitFor(abuser.closed, 5000, 'the 4029 close')).toBe(4029)
    expect((await polite.request({ type: 'ping' })).type).toBe('pong')
    expect(polite.closeCode).toBeUndefined()
  })

  it('connections per address: one over the cap is refused with 429, and a slot frees on close', async () => {
    const server = await serve({
      auth: { apiKey: 'limits-api-key-0123456789abcdef', secret: 'limits-secret-0123456789abcdef0123456789' },
      limits: { maxConnectionsPerAddress: 3 },
    })
    const wsUrl = `${server.url.replace(/^http/, 'ws')}/ws`
    const token = (await server.mintToken('*', 'viewer'))!
    const connect = (query: string) => {
      const s = new TestSocket(`${wsUrl}${query}`)
      sockets.push(s)
      return { s, outcome: s.upgradeStatus() }
    }
    const held = [connect(`?token=${token}`), connect(`?token=${token}`)]
    // A socket still waiting to send its auth frame holds a slot too.
    const pending = connect('')
    for (const c of [...held, pending]) expect(await c.outcome).toBe(101)
    expect(await connect(`?token=${token}`).outcome).toBe(429)
    await held[0]!.s.close()
    await eventually(async () => (await metric(server.url, 'flowcast_connections')) === 2, 5000)
    const again = connect(`?token=${token}`)
    expect(await again.outcome).toBe(101)
    await again.s.next((f) => f.type === 'hello')
    const text = await (await fetch(`${server.url}/metrics`)).text()
    expect(text).toMatch(/^flowcast_connections_refused_total\{reason="per_address"\} 1$/m)
  })

  it('connections per address: a handshake ws itself refuses (bad version) holds its slot only until its socket closes', async () => {
    const server = await serve({ limits: { maxConnectionsPerAddress: 1 } })
    for (let i = 0; i < 3; i++) {
      const answer = await new Promise<string>((resolve, reject) => {
        const c = net.connect(server.port, '127.0.0.1', () =>
          c.write(
            'GET /ws HTTP/1.1\r\nHost: 127.0.0.1\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n' +
              'Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 7\r\n\r\n',
          ),
        )
        let text = ''
        c.on('data', (d) => {
          text += d.toString('latin1')
        })
        c.once('close', () => resolve(text))
        c.once('error', reject)
      })
      expect(answer).toMatch(/^HTTP\/1\.1 400 /)
    }
    // Each refused socket gave its slot back when it closed: the one slot is free.
    await eventually(async () => {
      const s = new TestSocket(`${server.url.replace(/^http/, 'ws')}/ws`)
      sockets.push(s)
      return (await s.upgradeStatus()) === 101
    }, 5000)
  })

  it('live executions: one over maxLiveExecutions answers 429 too_many_executions', async () => {
    const gate = new Gate()
    const server = await serve({ gate, limits: { maxLiveExecutions: 1 } })
    await start(server, 'gated', { before: 1 })
    const second = await getJson(`${server.url}/api/flows/ticker/executions`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ input: { count: 1 } }),
    })
    expect(second).toMatchObject({ status: 429, body: { error: { code: 'too_many_executions' } } })
    gate.open()
  })

  it('retained events per execution: a subscriber from 0 gets gap, then exactly the retained tail', async () => {
    const server = await serve({ limits: { retainedEvents: 10 } })
    const { executionId } = await start(server, 'ticker', { count: 50 })
    const done = await getJson(`${server.url}/api/executions/${executionId}/result?wait=5000`)
    expect(done.status).toBe(200)
    const s = await open(server)
    await s.subscribe(executionId)
    await s.streamEnd(executionId)
    expect(s.ofType('gap')).toMatchObject([{ from: 1, to: 40 }])
    expect(s.seqs(executionId)).toEqual(range(41, 50))
  })

  it('retained bytes per execution: the log keeps only what fits, older seqs are a gap', async () => {
    // Each event is a little over 1 KiB encoded; 8 KiB keeps at most 7 of them.
    const server = await serve({ limits: { retainedBytes: 8 * 1024 } })
    const { executionId } = await start(server, 'ticker', { count: 40, size: 1024 })
    expect((await getJson(`${server.url}/api/executions/${executionId}/result?wait=5000`)).status).toBe(200)
    const s = await open(server)
    await s.subscribe(executionId)
    await s.streamEnd(executionId)
    const [gap] = s.ofType('gap')
    const seqs = s.seqs(executionId)
    expect(gap).toMatchObject({ from: 1 })
    expect(seqs).toEqual(range(gap!.to + 1, 40))
    expect(seqs.length).toBeGreaterThan(0)
    expect(seqs.length).toBeLessThanOrEqual(7)
  })
})
