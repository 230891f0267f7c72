/** The HTTP routes over a real server on port 0: start, snapshot, result, history, SSE, commands, limits. */
import { afterEach, describe, expect, it } from 'vitest'
import { eventually } from '../helpers/poll.ts'
import { readSse, sseSeqs } from '../helpers/sse-client.ts'
import { range, TestSocket } from '../helpers/ws-client.ts'
import { Gate, getJson, serve, start } from './fixtures.ts'

const sockets: TestSocket[] = []
afterEach(async () => {
  await Promise.all(sockets.splice(0).map((s) => s.close()))
})

const post = (url: string, body?: unknown, raw?: string) =>
  getJson(url, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: raw ?? (body === undefined ? undefined : JSON.stringify(body)),
  })

describe('http routes', () => {
  it('lists flows with their input contract as JSON Schema', async () => {
    const server = await serve()
    const { status, body } = await getJson(`${server.url}/api/flows`)
    expect(status).toBe(200)
    const names = body.flows.map((f: { name: string }) => f.name)
    expect(names).toEqual(['ticker', 'gated', 'thrower', 'ask'])
    expect(body.flows[0].contract.input).toMatchObject({ type: 'object', required: ['count'] })
  })

  it("lists each flow's description and example input from its definition, none where it has none", async () => {
    const server = await serve()
    const { body } = await getJson(`${server.url}/api/flows`)
    expect(body.flows[0]).toMatchObject({
      name: 'ticker',
      description: 'Puts count items, i = 1..count.',
      exampleInput: { count: 3 },
    })
    expect(body.flows[1].name).toBe('gated')
    expect(body.flows[1]).not.toHaveProperty('description')
    expect(body.flows[1]).not.toHaveProperty('exampleInput')
  })

  it('starts an execution: 201 with id, status and links', async () => {
    const server = await serve()
    const res = await post(`${server.url}/api/flows/ticker/executions`, { input: { count: 1 } })
    expect(res.status).toBe(201)
    const id = res.body.executionId
    expect(res.body.status).toMatch(/running|completed/)
    const self = `${server.url}/api/executions/${id}`
    expect(res.body.links).toEqual({
      self,
      result: `${self}/result`,
      stream: `${self}/stream`,
      ws: `${server.url.replace('http', 'ws')}/ws`,
      watch: `${server.url}/?execution=${id}`,
    })
  })

  it('refuses bad starts: unknown flow 404, invalid input 400 with issues, bad JSON 400', async () => {
    const server = await serve()
    const unknown = await post(`${server.url}/api/flows/nope/executions`, { input: {} })
    expect(unknown).toMatchObject({ status: 404, body: { error: { code: 'not_found' } } })
    const invalid = await post(`${server.url}/api/flows/ticker/executions`, { input: { count: 'many' } })
    expect(invalid.status).toBe(400)
    expect(invalid.body.error.code).toBe('invalid_input')
    expect(invalid.body.error.issues[0].path).toEqual(['count'])
    const broken = await post(`${server.url}/api/flows/ticker/executions`, undefined, '{"input":')
    expect(broken).toMatchObject({ status: 400, body: { error: { code: 'bad_request' } } })
    const unknownRoute = await getJson(`${server.url}/api/nothing`)
    expect(unknownRoute).toMatchObject({ status: 404, body: { error: { code: 'not_found' } } })
  })

  it('snapshot: status, seqs, interrupts; 404 for unknown', async () => {
    const server = await serve()
    const { executionId } = await start(server, 'ask')
    await eventually(
      async () => (await getJson(`${server.url}/api/executions/${executionId}`)).body.status === 'waiting',
    )
    const snap = await getJson(`${server.url}/api/executions/${executionId}`)
    expect(snap.body).toMatchObject({
      executionId,
      flow: 'ask',
      status: 'waiting',
      streamOpen: true,
      lastSeq: 1,
      firstSeq: 1,
      subscribers: 0,
    })
    expect(snap.body.pendingInterrupts[0]).toMatchObject({ type: 'approval', payload: { q: 'ok?' } })
    expect((await getJson(`${server.url}/api/executions/nope`)).status).toBe(404)
  })

  it('result: 202 while running, long-poll returns at the end, 200 completed, 404 unknown', async () => {
    const gate = new Gate()
    const server = await serve({ gate })
    const { executionId } = await start(server, 'gated', { after: 1 })
    const early = await getJson(`${server.url}/api/executions/${executionId}/result?wait=30`)
    expect(early).toEqual({ status: 202, body: { status: 'running' } })
    const t0 = Date.now()
    const waiting = getJson(`${server.url}/api/executions/${executionId}/result?wait=20000`)
    gate.open()
    expect(await waiting).toEqual({
      status: 200,
      body: { status: 'completed', result: { finished: true, dropped: 0 } },
    })
    expect(Date.now() - t0).toBeLessThan(5000)
    expect((await getJson(`${server.url}/api/executions/nope/result`)).status).toBe(404)
    expect((await getJson(`${server.url}/api/executions/${executionId}/result?wait=soon`)).status).toBe(400)
  })

  it('result of a failed execution carries its error', async () => {
    const server = await serve()
    const { executionId } = await start(server, 'thrower')
    const res = await getJson(`${server.url}/api/executions/${executionId}/result?wait=5000`)
    expect(res.status).toBe(200)
    expect(res.body).toMatchObject({ status: 'failed', error: { code: 'execution_failed' } })
    expect(res.body.error.message).toContain('boom')
  })

  it('history pages through events with since and a bounded limit', async () => {
    const server = await serve({ limits: { maxHistoryLimit: 100 } })
    const { executionId } = await start(server, 'ticker', { count: 250 })
    await getJson(`${server.url}/api/executions/${executionId}/result?wait=5000`)
    const seqs: number[] = []
    let since: number | null = 0
    let pages = 0
    while (since !== null) {
      const page = await getJson(
        `${server.url}/api/executions/${executionId}/events?since=${since}&limit=500`,
      )
      expect(page.status).toBe(200)
      expect(page.body.items.length).toBeLessThanOrEqual(100)
      seqs.push(...page.body.items.map((i: { seq: number }) => i.seq))
      expect(page.body).toMatchObject({ lastSeq: 250, streamOpen: false })
      since = page.body.next
      pages++
    }
    expect(seqs).toEqual(range(1, 250))
    expect(pages).toBe(3)
    const base = `${server.url}/api/executions/${executionId}/events`
    expect((await getJson(`${base}?since=-1`)).body.error.code).toBe('invalid_since')
    expect((await getJson(`${base}?since=1.5`)).body.error.code).toBe('invalid_since')
    expect((await getJson(`${base}?since=251`)).status).toBe(400)
    expect((await getJson(`${base}?limit=0`)).body.error.code).toBe('bad_request')
    expect((await getJson(`${server.url}/api/executions/nope/events`)).status).toBe(404)
  })

  it('history behind retention reports the gap', async () => {
    const server = await serve({ limits: { retainedEvents: 10 } })
    const { executionId } = await start(server, 'ticker', { count: 30 })
    await getJson(`${server.url}/api/executions/${executionId}/result?wait=5000`)
    const page = await getJson(`${server.url}/api/executions/${executionId}/events?since=0`)
    expect(page.body.gap).toEqual({ from: 1, to: 20 })
    expect(page.body.items.map((i: { seq: number }) => i.seq)).toEqual(range(21, 30))
  })

  it('stop-stream: stopped, then alreadyStopped; the execution runs on', async () => {
    const gate = new Gate()
    const server = await serve({ gate })
    const { executionId } = await start(server, 'gated', { before: 2, after: 2 })
    const url = `${server.url}/api/executions/${executionId}/stop-stream`
    expect(await post(url)).toEqual({ status: 200, body: { executionId, stopped: true } })
    expect(await post(url)).toEqual({ status: 200, body: { executionId, alreadyStopped: true } })
    expect((await post(`${server.url}/api/executions/nope/stop-stream`)).status).toBe(404)
    gate.open()
    const result = await getJson(`${server.url}/api/executions/${executionId}/result?wait=5000`)
    expect(result.body).toEqual({ status: 'completed', result: { finished: true, dropped: 2 } })
  })

  it('continues an interrupt; a second answer is 409, an unknown one 404', async () => {
    const server = await serve()
    const { executionId } = await start(server, 'ask')
    let iid = ''
    await eventually(async () => {
      const snap = await getJson(`${server.url}/api/executions/${executionId}`)
      iid = snap.body.pendingInterrupts[0]?.id ?? ''
      return iid !== ''
    })
    const url = `${server.url}/api/executions/${executionId}/interrupts/${iid}/continue`
    expect(await post(url, { value: { ok: true } })).toMatchObject({ status: 200, body: { continued: true } })
    const result = await getJson(`${server.url}/api/executions/${executionId}/result?wait=5000`)
    expect(result.body).toEqual({ status: 'completed', result: { ok: true } })
    expect((await post(url, { value: 1 })).body.error.code).toBe('interrupt_not_waiting')
    const unknown = await post(`${server.url}/api/executions/${executionId}/interrupts/zzz/continue`, {})
    expect(unknown).toMatchObject({ status: 404, body: { error: { code: 'interrupt_not_found' } } })
  })

  it('counts live executions as they start and finish (/healthz live)', async () => {
    const gate = new Gate()
    const server = await serve({ gate, limits: { finishedTtlMs: 60_000 } })
    const live = async () => (await getJson(`${server.url}/healthz`)).body.live
    expect(await live()).toBe(0)
    const a = await start(server, 'gated')
    const b = await start(server, 'gated')
    expect(await live()).toBe(2)
    const quick = await start(server, 'ticker', { count: 1 })
    await getJson(`${server.url}/api/executions/${quick.executionId}/result?wait=5000`)
    expect(await live()).toBe(2)
    gate.open()
    for (const { executionId } of [a, b])
      await getJson(`${server.url}/api/executions/${executionId}/result?wait=5000`)
    await eventually(async () => (await live()) === 0)
    const thrown = await start(server, 'thrower')
    await getJson(`${server.url}/api/executions/${thrown.executionId}/result?wait=5000`)
    await eventually(async () => (await live()) === 0)
  })

  it('caps live executions with 429 too_many_executions', async () => {
    const gate = new Gate()
    const server = await serve({ gate, limits: { maxLiveExecutions: 2 } })
    const a = await start(server, 'gated')
    await start(server, 'gated')
    const third = await post(`${server.url}/api/flows/gated/executions`, {})
    expect(third).toMatchObject({ status: 429, body: { error: { code: 'too_many_executions' } } })
    gate.open()
    await getJson(`${server.url}/api/executions/${a.executionId}/result?wait=5000`)
    await eventually(
      async () =>
        (await post(`${server.url}/api/flows/ticker/executions`, { input: { count: 1 } })).status === 201,
    )
  })

  it('evicts finished executions after their TTL', async () => {
    const server = await serve({ limits: { finishedTtlMs: 50 } })
    const { executionId } = await start(server, 'ticker', { count: 3 })
    expect((await getJson(`${server.url}/api/executions/${executionId}/result?wait=5000`)).status).toBe(200)
    await eventually(
      async () => (await getJson(`${server.url}/api/executions/${executionId}`)).status === 404,
      5000,
    )
    expect((await getJson(`${server.url}/api/executions/${executionId}/result`)).status).toBe(404)
  })

  it('healthz and metrics', async () => {
    const server = await serve()
    const s = await TestSocket.open(server.url)
    sockets.push(s)
    const { executionId } = await start(server, 'ticker', { count: 5 })
    await s.subscribe(executionId)
    await s.streamEnd(executionId)
    expect(await getJson(`${server.url}/healthz`)).toMatchObject({
      status: 200,
      body: { ok: true, broker: { kind: 'memory' }, connections: 1 },
    })
    const text = await (await fetch(`${server.url}/metrics`)).text()
    expect(text).toMatch(/^flowcast_connections 1$/m)
    expect(text).toMatch(/^flowcast_subscribers 1$/m)
    expect(text).toMatch(/^flowcast_executions\{status="completed"\} 1$/m)
    expect(text).toMatch(/^flowcast_events_out_total 5$/m)
    expect(text).toMatch(/^flowcast_frames_sent_total \d+$/m)
    expect(text).toMatch(/^flowcast_bytes_sent_total \d+$/m)
  })

  it('two servers in one process are independent', async () => {
    const a = await serve()
    const b = await serve()
    const { executionId } = await start(a, 'ticker', { count: 2 })
    await getJson(`${a.url}/api/executions/${executionId}/result?wait=5000`)
    expect((await getJson(`${b.url}/api/executions/${executionId}`)).status).toBe(404)
    const mb = await (await fetch(`${b.url}/metrics`)).text()
    expect(mb).not.toMatch(/flowcast_executions\{status="completed"\} 1/)
    await a.close()
    expect((await getJson(`${b.url}/healthz`)).status).toBe(200)
  })
})

describe('SSE stream', () => {
  it('reads the same seqs as the socket, then stream_end, and the response ends', async () => {
    const server = await serve()
    const { executionId } = await start(server, 'ticker', { count: 400, every: 'tick' })
    const ws = await TestSocket.open(server.url)
    sockets.push(ws)
    await ws.subscribe(executionId)
    const sse = await readSse(`${server.url}/api/executions/${executionId}/stream`)
    expect(sse.status).toBe(200)
    await sse.done
    await ws.streamEnd(executionId)
    expect(sseSeqs(sse.messages)).toEqual(range(1, 400))
    expect(sseSeqs(sse.messages)).toEqual(ws.seqs(executionId))
    const last = sse.messages.at(-1)!
    expect(last.event).toBe('stream_end')
    expect(JSON.parse(last.data)).toMatchObject({ lastSeq: 400, reason: 'completed' })
    expect(sse.messages[0]!.event).toBe('status')
    // Every event/events message carries the id of its last seq.
    for (const m of sse.messages.filter((x) => x.event === 'event' || x.event === 'events')) {
      const d = JSON.parse(m.data)
      expect(Number(m.id)).toBe(m.event === 'event' ? d.seq : d.items.at(-1).seq)
    }
  })

  it('resumes with Last-Event-ID, and the final id gets stream_end at once', async () => {
    const server = await serve()
    const { executionId } = await start(server, 'ticker', { count: 150 })
    await getJson(`${server.url}/api/executions/${executionId}/result?wait=5000`)
    const url = `${server.url}/api/executions/${executionId}/stream`
    const resumed = await readSse(url, { 'last-event-id': '120' })
    await resumed.done
    expect(sseSeqs(resumed.messages)).toEqual(range(121, 150))
    const final = await readSse(url, { 'last-event-id': '150' })
    await final.done
    expect(sseSeqs(final.messages)).toEqual([])
    expect(final.messages.map((m) => m.event)).toEqual(['status', 'stream_end'])
    const beyond = await readSse(url, { 'last-event-id': '151' })
    expect(beyond.status).toBe(400)
  })

  it('sends status and gap as named events', async () => {
    const server = await serve({ limits: { retainedEvents: 5 } })
    const { executionId } = await start(server, 'ticker', { count: 20 })
    await getJson(`${server.url}/api/executions/${executionId}/result?wait=5000`)
    const sse = await readSse(`${server.url}/api/executions/${executionId}/stream`)
    await sse.done
    const gap = sse.messages.find((m) => m.event === 'gap')!
    expect(JSON.parse(gap.data)).toMatchObject({ from: 1, to: 15 })
    expect(sseSeqs(sse.messages)).toEqual(range(16, 20))
    expect(JSON.parse(sse.messages[0]!.data)).toMatchObject({ type: 'status', status: 'completed' })
  })

  it('a client that goes away leaves the room', async () => {
    const gate = new Gate()
    const server = await serve({ gate })
    const { executionId } = await start(server, 'gated', { before: 1 })
    const sse = await readSse(`${server.url}/api/executions/${executionId}/stream`)
    const snap = () => getJson(`${server.url}/api/executions/${executionId}`)
    await eventually(async () => (await snap()).body.subscribers === 1)
    sse.abort()
    await sse.done
    await eventually(async () => (await snap()).body.subscribers === 0)
    gate.open()
  })
})
