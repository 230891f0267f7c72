/**
 * Issue 14 (1, 2): a burst put in one tick is not held whole in memory. The room flushes it in
 * slices and stops sending to a socket at its high-water mark (the rest is read from the log as
 * the socket drains), so what one socket queues on the server stays near highWaterMark + one
 * frame instead of the whole burst, and the watcher still receives every seq, or a gap for it.
 */
import { TriggerFlow } from '@flowcast/flows'
import { afterEach, describe, expect, it } from 'vitest'
import { metric } from '../helpers/metrics.ts'
import { TestSocket } from '../helpers/ws-client.ts'
import { Gate, serve, start } from '../server/fixtures.ts'

const HWM = 256 * 1024
const MAX_FRAME = 64 * 1024
const N = 2000

/** `burst`: after the gate, N items of ~8 KiB (16 MiB) put in one tick. */
function burstFlow(gate: Gate): TriggerFlow<any> {
  const flow = new TriggerFlow({ name: 'burst' })
  flow
    .to(
      flow.chunk('run', async (data) => {
        await gate.promise
        const pad = 'x'.repeat(8000)
        const puts: Promise<boolean>[] = []
        for (let i = 1; i <= N; i++) puts.push(data.putIntoStream({ i, pad }))
        await Promise.all(puts)
        return { put: N }
      }),
    )
    .end()
  return flow
}

const sockets: TestSocket[] = []
afterEach(async () => {
  await Promise.all(sockets.splice(0).map((s) => s.close()))
})

describe('a burst in one tick', () => {
  it("queues at most about the high-water mark on a socket, and the watcher's sequence stays whole", async () => {
    const gate = new Gate()
    const server = await serve({
      flows: [burstFlow(gate)],
      limits: {
        highWaterMark: HWM,
        maxFrameBytes: MAX_FRAME,
        maxItemBytes: 16 * 1024,
        slowConsumerTimeoutMs: 60_000,
      },
    })
    const { executionId } = await start(server, 'burst')
    const watcher = await TestSocket.open(server.url)
    sockets.push(watcher)
    await watcher.subscribe(executionId)
    gate.open()
    await watcher.streamEnd(executionId, 30_000)

    // Every seq once, in order: delivered, or inside a gap announced before the next one.
    let expected = 1
    for (const f of watcher.frames) {
      if (f.executionId !== executionId) continue
      const seqs = f.type === 'event' ? [f.seq] : f.type === 'events' ? f.items.map((it: any) => it.seq) : []
      if (f.type === 'gap') {
        expect(f.from).toBe(expected)
        expected = f.to + 1
      }
      for (const seq of seqs) expect(seq).toBe(expected++)
    }
    expect(expected).toBe(N + 1)
    // Without the slices and the stop at the mark, the whole 16 MiB burst sat in this one queue.
    const peak = await metric(server.url, 'flowcast_socket_queued_bytes_peak')
    expect(peak).toBeLessThanOrEqual(HWM + 2 * MAX_FRAME)
  }, 60_000)
})
