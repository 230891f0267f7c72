/**
 * The order a socket sees at the end of an execution, over real sockets: events..., status
 * completed, stream_end, for live subscribers and for ones that were still catching up (paused
 * readers) when the execution completed: never a terminal status before the last event.
 */
import { afterEach, describe, expect, it } from 'vitest'
import { TriggerFlow } from '../../flows/index.ts'
import { metric } from '../helpers/metrics.ts'
import { eventually } from '../helpers/poll.ts'
import { type Frame, range, TestSocket } from '../helpers/ws-client.ts'
import { Gate, getJson, serve, start } from './fixtures.ts'

const sockets: TestSocket[] = []
afterEach(async () => {
  await Promise.all(sockets.splice(0).map((s) => s.close()))
})

/** `padded { count, size }`: puts `count` padded items, waits for the gate, completes. */
function paddedFlow(gate: Gate): TriggerFlow<any> {
  const flow = new TriggerFlow({ name: 'padded' })
  flow
    .to(
      flow.chunk('run', async (data) => {
        const { count, size } = data.input as { count: number; size: number }
        const pad = 'x'.repeat(size)
        for (let i = 1; i <= count; i++) await data.putIntoStream({ i, pad })
        await gate.promise
        return 'done'
      }),
    )
    .end()
  return flow
}

/** The frames of `executionId` reduced to what order is about: `e<seq>` per event, then the rest by type. */
function order(frames: Frame[], executionId: string): string[] {
  const out: string[] = []
  for (const f of frames) {
    if (f.executionId !== executionId) continue
    if (f.type === 'event') out.push(`e${f.seq}`)
    else if (f.type === 'events') for (const it of f.items) out.push(`e${it.seq}`)
    else if (f.type === 'status') out.push(`status ${f.status}`)
    else if (f.type === 'stream_end') out.push('stream_end')
  }
  return out
}

/** Asserts events 1..n, then `status completed`, then `stream_end`, with no status but running before. */
function expectEndOrder(s: TestSocket, executionId: string, n: number): void {
  const seen = order(s.frames, executionId)
  expect(seen.slice(-2)).toEqual(['status completed', 'stream_end'])
  const body = seen.slice(0, -2)
  expect(body.filter((x) => x.startsWith('status') && x !== 'status running')).toEqual([])
  expect(s.seqs(executionId)).toEqual(range(1, n))
}

describe('status order at the end of a stream', () => {
  it('live and catching-up sockets alike: events..., status completed, stream_end', async () => {
    const highWaterMark = 64 * 1024
    const gate = new Gate()
    const server = await serve({
      flows: [paddedFlow(gate)],
      limits: {
        highWaterMark,
        retainedEvents: 30_000,
        retainedBytes: 64 * 1024 * 1024,
        slowConsumerTimeoutMs: 60_000,
      },
    })
    const N = 12_000
    const { executionId } = await start(server, 'padded', { count: N, size: 1000 })
    await eventually(
      async () => (await getJson(`${server.url}/api/executions/${executionId}`)).body.lastSeq === N,
      20_000,
      'every event appended',
    )
    const live = await Promise.all([1, 2].map(() => TestSocket.open(server.url)))
    const slow = await TestSocket.open(server.url)
    sockets.push(...live, slow)
    await Promise.all(live.map((s) => s.subscribe(executionId)))
    await Promise.all(live.map((s) => s.until(() => s.seqs(executionId).length === N, 20_000, 'replay')))
    // The slow reader stops reading as its replay starts: the completion finds it behind the head.
    const raw = (slow.ws as unknown as { _socket: { pause(): void; resume(): void } })._socket
    slow.send({ type: 'subscribe', id: 1, executionId })
    raw.pause()
    await eventually(
      async () => (await metric(server.url, 'flowcast_socket_queued_bytes')) > highWaterMark,
      10_000,
      'the slow socket above the mark',
    )
    gate.open()
    await Promise.all(live.map((s) => s.streamEnd(executionId)))
    raw.resume()
    await slow.streamEnd(executionId, 20_000)
    for (const s of [...live, slow]) expectEndOrder(s, executionId, N)
    // And one that subscribes after the end: the replay, then stream_end (its status came in `subscribed`).
    const late = await TestSocket.open(server.url)
    sockets.push(late)
    expect(await late.subscribe(executionId)).toMatchObject({ status: 'completed' })
    await late.streamEnd(executionId)
    expect(late.seqs(executionId)).toEqual(range(1, N))
    expect(order(late.frames, executionId).at(-1)).toBe('stream_end')
    expect(order(late.frames, executionId).filter((x) => x.startsWith('status'))).toEqual([])
  }, 60_000)
})
