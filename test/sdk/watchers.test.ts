/**
 * Several subscriptions of one execution on one client (issue 12): each gets exactly its own range
 * from its own `since`, in order, once, over one wire subscription that the server counts once;
 * the last one to go releases it.
 */
import { describe, expect, it } from 'vitest'
import type { FlowcastClient, StreamEvent } from '../../client-sdk/index.ts'
import { useCleanup } from '../helpers/cleanup.ts'
import { eventually } from '../helpers/poll.ts'
import { until } from '../helpers/wait.ts'
import { nodeClient, range, startTestServer } from './fixtures.ts'

const own = useCleanup()

function watcher(client: FlowcastClient, executionId: string, since?: number) {
  const seqs: number[] = []
  const errors: string[] = []
  let ended = false
  const handlers: Parameters<FlowcastClient['subscribe']>[1] = {
    onEvent: (ev: StreamEvent) => seqs.push(ev.seq),
    onEnd: () => {
      ended = true
    },
    onError: (err) => errors.push(err.code),
  }
  if (since !== undefined) handlers.since = since
  const sub = client.subscribe(executionId, handlers)
  return { sub, seqs, errors, ended: () => ended }
}

describe('several watchers of one execution on one client', () => {
  it('each sees exactly its own range; a late one from 0 gets everything; the server counts one subscription', async () => {
    const server = own(await startTestServer())
    const client = own(nodeClient(server.url))
    const { executionId } = await client.start('long-job', { count: 200, size: 16, intervalMs: 3 })
    const a = watcher(client, executionId)
    const b = watcher(client, executionId, 5)
    await until(() => a.seqs.length >= 40, 10_000, 'the first 40 events')
    // Joins behind what the wire already carried: the wire starts over from 0, the others drop repeats.
    const c = watcher(client, executionId)
    const d = watcher(client, executionId, 150)
    expect(client.watchers(executionId)).toBe(4)
    await until(() => c.seqs.length >= 1, 5_000, 'the late watcher to catch up')
    expect((await client.snapshot(executionId)).subscribers).toBe(1)
    await until(() => [a, b, c, d].every((w) => w.ended()), 20_000, 'every end')
    expect(a.seqs).toEqual(range(1, 200))
    expect(b.seqs).toEqual(range(6, 200))
    expect(c.seqs).toEqual(range(1, 200))
    expect(d.seqs).toEqual(range(151, 200))
    for (const w of [a, b, c, d]) expect(w.errors).toEqual([])
    expect(client.watchers(executionId)).toBe(0)
  })

  it('unsubscribing one leaves the others; the last one releases the server side', async () => {
    const server = own(await startTestServer())
    const client = own(nodeClient(server.url))
    const { executionId } = await client.start('long-job', { count: 3, size: 16, intervalMs: 20_000 })
    const a = watcher(client, executionId)
    const b = watcher(client, executionId)
    await until(() => a.seqs.length === 1 && b.seqs.length === 1, 5_000, 'the first event')
    a.sub.unsubscribe()
    expect(a.sub.ended).toBe(true)
    expect(b.sub.ended).toBe(false)
    expect((await client.snapshot(executionId)).subscribers).toBe(1)
    b.sub.unsubscribe()
    await eventually(
      async () => (await client.snapshot(executionId)).subscribers === 0,
      1_000,
      'the server to let go within a second',
    )
  })
})
