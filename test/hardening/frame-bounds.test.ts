/**
 * Issue 14 point 1: no frame the server builds is larger than maxFrameBytes — live, catch-up and
 * replay over WebSocket, SSE messages, a history page — a burst is split across frames in order;
 * an item over maxItemBytes is refused at putIntoStream with item_too_large naming the flow and its
 * size, and the flow carries on.
 */
import { TriggerFlow } from '@flowcast/flows'
import { afterEach, describe, expect, it } from 'vitest'
import { readSse, sseSeqs } from '../helpers/sse-client.ts'
import { range, TestSocket } from '../helpers/ws-client.ts'
import { Gate, getJson, serve, start } from '../server/fixtures.ts'

const MAX_FRAME = 64 * 1024
const MAX_ITEM = 16 * 1024
const N = 300

/** `burst`: after the gate, N items of ~1 KiB in one tick, then one item over maxItemBytes (caught), then one more. */
function burstFlow(gate: Gate): TriggerFlow<any> {
  const flow = new TriggerFlow({ name: 'burst' })
  flow
    .to(
      flow.chunk('run', async (data) => {
        await gate.promise
        const pad = 'x'.repeat(1000)
        const puts: Promise<boolean>[] = []
        for (let i = 1; i <= N; i++) puts.push(data.putIntoStream({ i, pad }))
        await Promise.all(puts)
        let caught: { code: string; message: string } | undefined
        try {
          await data.putIntoStream({ big: 'y'.repeat(MAX_ITEM) })
        } catch (err) {
          caught = { code: (err as { code: string }).code, message: (err as Error).message }
        }
        await data.putIntoStream({ after: true })
        return { caught }
      }),
    )
    .end()
  return flow
}

const sockets: TestSocket[] = []
afterEach(async () => {
  await Promise.all(sockets.splice(0).map((s) => s.close()))
})

/** A socket that records the byte size of every message it receives. */
async function sizedSocket(url: string): Promise<{ s: TestSocket; sizes: number[] }> {
  const s = await TestSocket.open(url)
  sockets.push(s)
  const sizes: number[] = []
  s.ws.on('message', (data: Buffer) => sizes.push(data.length))
  return { s, sizes }
}

describe('frame bounds', () => {
  it('a burst over maxFrameBytes is split, in order, on every path; a too-large item is refused', async () => {
    const gate = new Gate()
    const server = await serve({
      flows: [burstFlow(gate)],
      limits: { maxFrameBytes: MAX_FRAME, maxItemBytes: MAX_ITEM, catchUpBatch: 1000 },
    })
    const { executionId } = await start(server, 'burst')
    const live = await sizedSocket(server.url)
    await live.s.subscribe(executionId)
    const sse = await readSse(`${server.url}/api/executions/${executionId}/stream`)
    gate.open()
    await live.s.streamEnd(executionId)
    const result = await getJson(`${server.url}/api/executions/${executionId}/result?wait=5000`)
    expect(result.body.result.caught.code).toBe('item_too_large')
    expect(result.body.result.caught.message).toContain('flow "burst"')
    expect(result.body.result.caught.message).toMatch(/\d+ bytes/)

    const all = range(1, N + 1)
    expect(live.s.seqs(executionId)).toEqual(all)
    // The burst went out in several frames (it is ~300 KiB), none over the bound.
    expect(live.s.frames.filter((f) => f.type === 'events').length).toBeGreaterThan(1)
    expect(Math.max(...live.sizes)).toBeLessThanOrEqual(MAX_FRAME)

    const late = await sizedSocket(server.url)
    await late.s.subscribe(executionId, 0)
    await late.s.streamEnd(executionId)
    expect(late.s.seqs(executionId)).toEqual(all)
    expect(Math.max(...late.sizes)).toBeLessThanOrEqual(MAX_FRAME)

    await sse.done
    expect(sseSeqs(sse.messages)).toEqual(all)
    for (const m of sse.messages) expect(Buffer.byteLength(m.data) + 64).toBeLessThanOrEqual(MAX_FRAME)

    let since = 0
    const seen: number[] = []
    for (let pages = 0; pages < 100 && since < N + 1; pages++) {
      const res = await fetch(`${server.url}/api/executions/${executionId}/events?since=${since}&limit=1000`)
      const text = await res.text()
      expect(Buffer.byteLength(text)).toBeLessThanOrEqual(MAX_FRAME)
      const page = JSON.parse(text)
      for (const it of page.items) seen.push(it.seq)
      if (page.next === null) break
      since = page.next
    }
    expect(seen).toEqual(all)
  }, 60_000)
})
