/**
 * Issue 14 point 2: a node-wide budget of retained stream bytes. Over it, finished executions'
 * logs go first, the oldest finished first (status and result stay; a history read — HTTP page,
 * WS subscribe replay, SSE — shows an explicit gap), then the oldest events of running ones (a
 * gap again). maxFinishedExecutions evicts the oldest finished execution outright (404, its room
 * ends) and finishedRetainedBytes bounds what ended logs hold.
 */
import { TriggerFlow } from '@flowcast/flows'
import { afterEach, describe, expect, it } from 'vitest'
import { metric } from '../helpers/metrics.ts'
import { eventually } from '../helpers/poll.ts'
import { readSse, sseSeqs } from '../helpers/sse-client.ts'
import { range, TestSocket } from '../helpers/ws-client.ts'
import { Gate, getJson, serve, start, tickerFlow } from '../server/fixtures.ts'

/** Each item's pad: an envelope is ~5 KB of JSON. */
const PAD = 5000
/** Fits about 23 items: two finished executions of 10 and a live one of 6 do not fit together. */
const BUDGET = 120_000

/** `holder { count }`: puts count items of ~5 KB, then runs until the gate opens. */
function holderFlow(gate: Gate): TriggerFlow<any> {
  const flow = new TriggerFlow({ name: 'holder' })
  flow
    .to(
      flow.chunk('run', async (data) => {
        const { count } = data.input as { count: number }
        const pad = 'x'.repeat(PAD)
        for (let i = 1; i <= count; i++) await data.putIntoStream({ i, pad })
        await gate.promise
        return { put: count }
      }),
    )
    .end()
  return flow
}

const sockets: TestSocket[] = []
afterEach(async () => {
  await Promise.all(sockets.splice(0).map((s) => s.close()))
})

/** The whole retained history over HTTP: every seq read and the gaps announced. */
async function history(
  url: string,
  id: string,
): Promise<{ seqs: number[]; gaps: unknown[]; status: number }> {
  const seqs: number[] = []
  const gaps: unknown[] = []
  let since = 0
  for (let pages = 0; pages < 50; pages++) {
    const res = await getJson(`${url}/api/executions/${id}/events?since=${since}&limit=1000`)
    if (res.status !== 200) return { seqs, gaps, status: res.status }
    if (res.body.gap) gaps.push(res.body.gap)
    for (const it of res.body.items) seqs.push(it.seq)
    if (res.body.next === null) break
    since = res.body.next
  }
  return { seqs, gaps, status: 200 }
}

/** A fresh socket's replay from 0: its frames until stream_end (finished) or until it holds `lastSeq`. */
async function replay(url: string, id: string, lastSeq: number): Promise<TestSocket> {
  const s = await TestSocket.open(url)
  sockets.push(s)
  await s.subscribe(id, 0)
  await s.until(
    () =>
      s.frames.some((f) => f.type === 'stream_end') ||
      s.seqs(id).at(-1) === lastSeq ||
      s.frames.some((f) => f.type === 'gap' && f.to === lastSeq),
    10_000,
    `the replay of ${id}`,
  )
  return s
}

describe('node retention budget', () => {
  it('takes finished logs first, oldest finished first, then the oldest live events; every read shows the gap', async () => {
    const gate = new Gate()
    const server = await serve({
      flows: [tickerFlow(), holderFlow(gate)],
      limits: { nodeRetainedBytes: BUDGET },
    })
    const a = (await start(server, 'ticker', { count: 10, size: PAD })).executionId
    await eventually(
      async () => (await getJson(`${server.url}/api/executions/${a}`)).body.status === 'completed',
    )
    const b = (await start(server, 'ticker', { count: 10, size: PAD })).executionId
    await eventually(
      async () => (await getJson(`${server.url}/api/executions/${b}`)).body.status === 'completed',
    )
    expect((await history(server.url, a)).seqs).toEqual(range(1, 10))

    // A running execution of 6 items pushes the node over: the oldest finished log (a) goes whole.
    const c = (await start(server, 'holder', { count: 6 })).executionId
    await eventually(async () => (await getJson(`${server.url}/api/executions/${c}`)).body.lastSeq === 6)
    const aRead = await history(server.url, a)
    expect(aRead).toEqual({ seqs: [], gaps: [{ from: 1, to: 10 }], status: 200 })
    // Its status and result outlive its log.
    const aResult = await getJson(`${server.url}/api/executions/${a}/result`)
    expect(aResult).toMatchObject({ status: 200, body: { status: 'completed', result: { count: 10 } } })
    expect((await getJson(`${server.url}/api/executions/${a}`)).body).toMatchObject({
      lastSeq: 10,
      firstSeq: 11,
    })
    expect((await history(server.url, b)).seqs).toEqual(range(1, 10))
    expect((await history(server.url, c)).seqs).toEqual(range(1, 6))

    // A second running one of 20: the other finished log (b) goes before any live event, then c's
    // oldest events (older than any of d's) make room; d keeps all of its own.
    const d = (await start(server, 'holder', { count: 20 })).executionId
    await eventually(async () => (await getJson(`${server.url}/api/executions/${d}`)).body.lastSeq === 20)
    expect(await history(server.url, b)).toEqual({ seqs: [], gaps: [{ from: 1, to: 10 }], status: 200 })
    expect((await history(server.url, d)).seqs).toEqual(range(1, 20))
    const cRead = await history(server.url, c)
    expect(cRead.gaps).toHaveLength(1)
    const cut = (cRead.gaps[0] as { from: number; to: number }).to
    expect(cRead.gaps[0]).toEqual({ from: 1, to: cut })
    expect(cut).toBeGreaterThanOrEqual(1)
    expect(cut).toBeLessThan(6)
    expect(cRead.seqs).toEqual(range(cut + 1, 6))
    expect(await metric(server.url, 'flowcast_retained_bytes')).toBeLessThanOrEqual(BUDGET)

    // WebSocket replay: the gap first, then what is left; a finished one then ends.
    const wsA = await replay(server.url, a, 10)
    const aTypes = wsA.frames.filter((f) => f.executionId === a && f.type !== 'presence').map((f) => f.type)
    expect(aTypes).toEqual(['subscribed', 'gap', 'stream_end'])
    expect(wsA.ofType('gap')[0]).toMatchObject({ from: 1, to: 10 })
    expect(wsA.ofType('stream_end')[0]).toMatchObject({ reason: 'completed', lastSeq: 10 })
    const wsC = await replay(server.url, c, 6)
    expect(wsC.ofType('gap')[0]).toMatchObject({ from: 1, to: cut })
    expect(wsC.seqs(c)).toEqual(range(cut + 1, 6))

    // SSE: the same gap as a named event.
    const sseA = await readSse(`${server.url}/api/executions/${a}/stream`)
    await sseA.done
    const aMessages = sseA.messages.filter((m) => m.event !== 'status')
    expect(aMessages.map((m) => m.event)).toEqual(['gap', 'stream_end'])
    expect(JSON.parse(aMessages[0]!.data)).toMatchObject({ from: 1, to: 10 })
    const sseC = await readSse(`${server.url}/api/executions/${c}/stream`)
    await eventually(async () => sseSeqs(sseC.messages).at(-1) === 6, 10_000, 'the SSE replay of c')
    const cFirst = sseC.messages.find((m) => m.event !== 'status')!
    expect(cFirst.event).toBe('gap')
    expect(JSON.parse(cFirst.data)).toMatchObject({ from: 1, to: cut })
    expect(sseSeqs(sseC.messages)).toEqual(range(cut + 1, 6))
    sseC.abort()
    gate.open()
  }, 60_000)

  it('finishedRetainedBytes bounds what ended logs hold, oldest ended first', async () => {
    const server = await serve({ limits: { finishedRetainedBytes: 80_000 } })
    const ids: string[] = []
    for (let n = 0; n < 3; n++) {
      const id = (await start(server, 'ticker', { count: 10, size: PAD })).executionId
      await eventually(
        async () => (await getJson(`${server.url}/api/executions/${id}`)).body.status === 'completed',
      )
      ids.push(id)
    }
    // Two of ~50 KB do not fit in 80 KB: only the newest keeps its log.
    expect((await history(server.url, ids[0]!)).gaps).toEqual([{ from: 1, to: 10 }])
    expect((await history(server.url, ids[1]!)).gaps).toEqual([{ from: 1, to: 10 }])
    expect((await history(server.url, ids[2]!)).seqs).toEqual(range(1, 10))
    expect(await metric(server.url, 'flowcast_retained_finished_bytes')).toBeLessThanOrEqual(80_000)
  })

  it('maxFinishedExecutions evicts the oldest finished execution at once and ends its room', async () => {
    const server = await serve({ limits: { maxFinishedExecutions: 2 } })
    const holder = await TestSocket.open(server.url)
    sockets.push(holder)
    const ids: string[] = []
    for (let n = 0; n < 3; n++) {
      const id = (await start(server, 'ticker', { count: 3 })).executionId
      await holder.subscribe(id)
      await holder.streamEnd(id)
      ids.push(id)
      if (n < 2) expect((await getJson(`${server.url}/api/executions/${id}`)).status).toBe(200)
    }
    await eventually(async () => (await getJson(`${server.url}/api/executions/${ids[0]}`)).status === 404)
    expect((await getJson(`${server.url}/api/executions/${ids[1]}`)).status).toBe(200)
    expect((await getJson(`${server.url}/api/executions/${ids[2]}`)).status).toBe(200)
    // Its room went too: the socket that held it is released, a new subscribe is not_found.
    expect(await holder.request({ type: 'subscribe', executionId: ids[0] })).toMatchObject({
      type: 'error',
      code: 'not_found',
    })
    expect(await metric(server.url, 'flowcast_rooms')).toBe(2)
  })
})
