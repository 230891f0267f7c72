/**
 * Issue 14 point 3: eviction ends the room. A socket that still holds the room of an evicted
 * execution no longer keeps it: it is released (a catching-up member gets `stream_end` reason
 * `evicted`), later subscribes and SSE get not_found, and the room is gone from /metrics.
 */
import { afterEach, describe, expect, it } from 'vitest'
import { metric } from '../helpers/metrics.ts'
import { eventually } from '../helpers/poll.ts'
import { range, TestSocket } from '../helpers/ws-client.ts'
import { Gate, getJson, serve, start } from '../server/fixtures.ts'

const sockets: TestSocket[] = []
afterEach(async () => {
  await Promise.all(sockets.splice(0).map((s) => s.close()))
})

describe('eviction', () => {
  it('releases the sockets still in the room; subscribes and SSE then get not_found', async () => {
    // The execution finishes only once the holder is in its room: a 300 ms TTL cannot pass first.
    const gate = new Gate()
    const server = await serve({ gate, limits: { finishedTtlMs: 300 } })
    const { executionId } = await start(server, 'gated', { before: 3 })
    const holder = await TestSocket.open(server.url)
    sockets.push(holder)
    await holder.subscribe(executionId)
    gate.open()
    await holder.streamEnd(executionId)
    expect(holder.seqs(executionId)).toEqual(range(1, 3))
    expect(await metric(server.url, 'flowcast_rooms')).toBe(1)

    await eventually(
      async () => (await getJson(`${server.url}/api/executions/${executionId}`)).status === 404,
      10_000,
      'the eviction',
    )
    // The room went with the execution, although a socket held it.
    expect(await metric(server.url, 'flowcast_rooms')).toBe(0)
    const again = await holder.request({ type: 'subscribe', executionId })
    expect(again).toMatchObject({ type: 'error', code: 'not_found' })
    const fresh = await TestSocket.open(server.url)
    sockets.push(fresh)
    expect(await fresh.request({ type: 'subscribe', executionId })).toMatchObject({
      type: 'error',
      code: 'not_found',
    })
    expect((await fetch(`${server.url}/api/executions/${executionId}/stream`)).status).toBe(404)
  })
})
