/**
 * Resubscribing under refusals, against the real server: a subscribe refused with `rate_limited`
 * is retried once, never twice on the same socket, even when the link is cut while the retry
 * waits; `already_subscribed` answering a resubscribe replaces the server's subscription instead
 * of ending ours; an unsubscribe refused with `rate_limited` is tried again, so the server does
 * not keep a subscription the application let go of.
 */
import { describe, expect, it } from 'vitest'
import type { EndInfo, FlowcastClient } from '../../client-sdk/index.ts'
import { useCleanup } from '../helpers/cleanup.ts'
import { eventually } from '../helpers/poll.ts'
import { createProxy } from '../helpers/tcp-proxy.ts'
import { until } from '../helpers/wait.ts'
import { nodeClient, range, startTestServer, type testLongJob } from './fixtures.ts'

const own = useCleanup()

type LongJob = ReturnType<typeof testLongJob>

/** One subscription's record: seqs, error codes and its ending. */
interface Watch {
  seqs: number[]
  errors: string[]
  end: EndInfo | null
}

function watch(client: FlowcastClient, executionId: string, onError?: (code: string) => void) {
  const w: Watch = { seqs: [], errors: [], end: null }
  const sub = client.subscribe<LongJob>(executionId, {
    onEvent: (ev) => w.seqs.push(ev.seq),
    onError: (err) => {
      w.errors.push(err.code)
      onError?.(err.code)
    },
    onEnd: (info) => {
      w.end = info
    },
  })
  return { w, sub }
}

function whenOpen(client: FlowcastClient): Promise<void> {
  return new Promise((resolve) => {
    if (client.connectionState === 'open') return resolve()
    const off = client.onConnectionState((s) => {
      if (s === 'open') {
        off()
        resolve()
      }
    })
  })
}

async function subscribersOf(client: FlowcastClient, ids: string[]): Promise<number[]> {
  return Promise.all(ids.map(async (id) => (await client.snapshot(id)).subscribers))
}

/** One unmasked WebSocket text frame, as a server sends it. */
function wsText(text: string): Buffer {
  const payload = Buffer.from(text)
  if (payload.length >= 126) throw new Error('keep injected frames short')
  return Buffer.concat([Buffer.from([0x81, payload.length]), payload])
}

describe('client SDK resubscribe', () => {
  it('rate-limited resubscribes across cuts: each subscription gets 1..N once, none dies, the server lets go of all', async () => {
    const COUNT = 60
    const EXECUTIONS = 4
    // Three subscribes per second per socket: of four resubscribes on every new socket, the last is
    // refused and waits for its retry; the link is cut while it waits, three times over.
    const server = own(await startTestServer({ commandsPerSecond: 3 }))
    const proxy = own(await createProxy(server.port))
    const starter = own(nodeClient(server.url))
    const ids: string[] = []
    for (let i = 0; i < EXECUTIONS; i++) {
      const { executionId } = await starter.start<LongJob>('long-job', {
        count: COUNT,
        size: 16,
        intervalMs: 50,
      })
      ids.push(executionId)
    }
    const client = own(nodeClient(`http://127.0.0.1:${proxy.port}`))
    let cuts = 0
    const cutOnRefusal = (code: string): void => {
      if (code !== 'rate_limited' || cuts >= 3) return
      cuts++
      // After the refusal is handled, so the retry it scheduled is the one left behind.
      setImmediate(() => proxy!.cutAll())
    }
    const watches = ids.map((id) => watch(client, id, cutOnRefusal).w)

    await until(() => watches.every((w) => w.end !== null), 20_000, 'every stream_end')
    expect(cuts).toBe(3)
    for (const w of watches) {
      expect(w.seqs).toEqual(range(1, COUNT))
      expect(w.end?.reason).toBe('completed')
      // Refusals worth a retry are reported; nothing else may reach the application.
      expect(w.errors.filter((code) => code !== 'rate_limited')).toEqual([])
    }
    await eventually(
      async () => (await subscribersOf(starter, ids)).every((n) => n === 0),
      5_000,
      'the server to count no subscriber',
    )
    expect(await subscribersOf(starter, ids)).toEqual(ids.map(() => 0))
  })

  it('already_subscribed answering a resubscribe replaces the server side and the sequence goes on', async () => {
    const COUNT = 40
    const server = own(await startTestServer())
    const proxy = own(await createProxy(server.port))
    const starter = own(nodeClient(server.url))
    const { executionId } = await starter.start<LongJob>('long-job', {
      count: COUNT,
      size: 16,
      intervalMs: 20,
    })
    const client = own(nodeClient(`http://127.0.0.1:${proxy.port}`))
    await whenOpen(client)
    // Hold the subscribe in the proxy and answer it, ahead of the server, as a server does that
    // still holds an earlier subscription of this socket. The client's first request id is s1.
    proxy.pause()
    const { w } = watch(client, executionId)
    proxy.injectToClients(
      wsText(
        JSON.stringify({ type: 'error', id: 's1', code: 'already_subscribed', message: 'dup', executionId }),
      ),
    )
    proxy.resume()

    await until(() => w.end !== null || w.errors.length > 0, 10_000, 'stream_end')
    expect(w.errors).toEqual([])
    expect(w.seqs).toEqual(range(1, COUNT))
    expect(w.end?.reason).toBe('completed')
    await eventually(
      async () => (await subscribersOf(starter, [executionId]))[0] === 0,
      5_000,
      'the server to count no subscriber',
    )
  })

  it('an unsubscribe refused as rate limited is sent again: the server drops both subscriptions', async () => {
    // One command per second: the second of two unsubscribes sent together is refused.
    const server = own(await startTestServer({ commandsPerSecond: 1 }))
    const starter = own(nodeClient(server.url))
    const ids: string[] = []
    for (let i = 0; i < 2; i++) {
      const { executionId } = await starter.start<LongJob>('long-job', {
        count: 2000,
        size: 16,
        intervalMs: 5,
      })
      ids.push(executionId)
    }
    const client = own(nodeClient(server.url))
    const subs = ids.map((id) => watch(client, id))
    // The second subscribe is refused too and retried a second later.
    await until(() => subs.every(({ w }) => w.seqs.length > 0), 5_000, 'both subscriptions to receive events')
    expect(await subscribersOf(starter, ids)).toEqual([1, 1])
    for (const { sub } of subs) sub.unsubscribe()
    await eventually(
      async () => (await subscribersOf(starter, ids)).every((n) => n === 0),
      5_000,
      'the server to count no subscriber',
    )
    for (const { w } of subs) expect(w.errors.filter((code) => code !== 'rate_limited')).toEqual([])
  })
})
