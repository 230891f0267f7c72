/** The client SDK against a real server on port 0: fan-out, stop, results, stream endings, bad frames, failover. */
import { describe, expect, it } from 'vitest'
import {
  type EndInfo,
  type FlowcastClient,
  FlowcastError,
  type GapInfo,
  isFlowcastError,
  type StreamEvent,
} from '../../client-sdk/index.ts'
import { useCleanup } from '../helpers/cleanup.ts'
import { freePort } from '../helpers/net.ts'
import { createProxy } from '../helpers/tcp-proxy.ts'
import { until, waitFor } from '../helpers/wait.ts'
import { nodeClient, range, startTestServer, type testLongJob } from './fixtures.ts'

const own = useCleanup()

type LongJob = ReturnType<typeof testLongJob>

/** Collects one subscription's events and ending. */
function watch(client: FlowcastClient, executionId: string, since?: number) {
  const events: StreamEvent<LongJob['types']['stream']>[] = []
  const errors: FlowcastError[] = []
  const state: { end: EndInfo | null; statuses: string[] } = { end: null, statuses: [] }
  const handlers: Parameters<FlowcastClient['subscribe']>[1] = {
    onEvent: (ev) => events.push(ev as StreamEvent<LongJob['types']['stream']>),
    onEnd: (info) => {
      state.end = info
    },
    onStatus: (s) => state.statuses.push(s),
    onError: (err) => errors.push(err),
  }
  if (since !== undefined) handlers.since = since
  const sub = client.subscribe<LongJob>(executionId, handlers)
  return { sub, events, errors, state }
}

describe('client SDK', () => {
  it('50 clients on one execution receive identical, complete sequences', async () => {
    const server = own(await startTestServer())
    const admin = own(nodeClient(server.url))
    const { executionId } = await admin.start<LongJob>('long-job', { count: 400, size: 16, intervalMs: 1 })
    const watchers = range(1, 50).map(() => watch(own(nodeClient(server!.url)), executionId))
    await until(() => watchers.every((w) => w.state.end !== null), 20_000, 'every stream_end')
    for (const w of watchers) {
      expect(w.events.map((e) => e.seq)).toEqual(range(1, 400))
      expect(w.events.map((e) => e.data.n)).toEqual(range(1, 400))
      expect(w.state.end).toMatchObject({ reason: 'completed', lastSeq: 400 })
      expect(w.errors).toEqual([])
      expect(w.sub.lastSeq).toBe(400)
      expect(w.sub.ended).toBe(true)
    }
    const first = JSON.stringify(watchers[0]!.events)
    for (const w of watchers) expect(JSON.stringify(w.events)).toBe(first)
  })

  it('one socket per client carries several subscriptions; since resumes after what the app has', async () => {
    const server = own(await startTestServer())
    const client = own(nodeClient(server.url))
    const a = await client.start('long-job', { count: 30, size: 16, intervalMs: 0 })
    const b = await client.start('long-job', { count: 20, size: 16, intervalMs: 0 })
    const wa = watch(client, a.executionId, 10)
    const wb = watch(client, b.executionId)
    await until(() => wa.state.end !== null && wb.state.end !== null, 10_000, 'both ends')
    expect(wa.events.map((e) => e.seq)).toEqual(range(11, 30))
    expect(wb.events.map((e) => e.seq)).toEqual(range(1, 20))
    expect(() => client.subscribe(a.executionId)).not.toThrow()
    const again = client.subscribe(b.executionId, {})
    expect(() => client.subscribe(b.executionId)).not.toThrow()
    again.unsubscribe()
  })

  it("an admin's stop ends every client's stream; a second stop says alreadyStopped; the execution completes", async () => {
    const server = own(await startTestServer())
    const admin = own(nodeClient(server.url))
    const { executionId } = await admin.start('long-job', { count: 300, size: 16, intervalMs: 3 })
    const watchers = range(1, 10).map(() => watch(own(nodeClient(server!.url)), executionId))
    await until(() => watchers.every((w) => w.events.length >= 5), 10_000, 'first events')
    expect(await admin.stopStream(executionId)).toEqual({ stopped: true })
    await until(() => watchers.every((w) => w.state.end !== null), 10_000, 'every stream_end')
    const lastSeq = watchers[0]!.state.end!.lastSeq
    for (const w of watchers) {
      expect(w.state.end).toEqual({ reason: 'stopped', lastSeq, by: 'admin' })
      expect(w.events.map((e) => e.seq)).toEqual(range(1, lastSeq))
    }
    expect(await admin.stopStream(executionId)).toEqual({ alreadyStopped: true })
    const result = await admin.result<LongJob>(executionId, { wait: 10_000 })
    expect(result).toEqual({ status: 'completed', result: { put: 300, accepted: lastSeq } })
  })

  it('result: status while running, the result with wait, and again after completion', async () => {
    const server = own(await startTestServer())
    const client = own(nodeClient(server.url))
    const { executionId } = await client.start<LongJob>('long-job', { count: 40, size: 16, intervalMs: 10 })
    const early = await client.result<LongJob>(executionId)
    expect(early.status).toBe('running')
    expect('result' in early).toBe(false)
    const waited = await client.result<LongJob>(executionId, { wait: 10_000 })
    expect(waited).toEqual({ status: 'completed', result: { put: 40, accepted: 40 } })
    if (waited.status === 'completed') expect(waited.result.put).toBe(40)
    expect(await client.result(executionId)).toEqual({
      status: 'completed',
      result: { put: 40, accepted: 40 },
    })
    await expect(client.result('no-such-execution')).rejects.toMatchObject({ code: 'not_found' })
    await expect(client.start('no-such-flow', {})).rejects.toBeInstanceOf(FlowcastError)
  })

  it('stream() yields the envelopes and ends on stream_end', async () => {
    const server = own(await startTestServer())
    const client = own(nodeClient(server.url))
    const { executionId } = await client.start('long-job', { count: 25, size: 16, intervalMs: 1 })
    const seen: StreamEvent<LongJob['types']['stream']>[] = []
    for await (const ev of client.stream<LongJob>(executionId)) seen.push(ev)
    expect(seen.map((e) => e.seq)).toEqual(range(1, 25))
    expect(seen[0]).toMatchObject({ seq: 1, data: { n: 1, of: 25 } })
    expect(typeof seen[0]!.ts).toBe('number')
  })

  it('stream() ends without throwing when no event came within timeout; the execution runs on', async () => {
    const server = own(await startTestServer())
    const client = own(nodeClient(server.url))
    const { executionId } = await client.start('long-job', { count: 2, size: 16, intervalMs: 60_000 })
    const seen: number[] = []
    const t0 = Date.now()
    for await (const ev of client.stream(executionId, { timeout: 300 })) seen.push(ev.seq)
    const elapsed = Date.now() - t0
    expect(seen).toEqual([1])
    expect(elapsed).toBeGreaterThanOrEqual(290)
    expect(elapsed).toBeLessThan(5_000)
    expect((await client.result(executionId)).status).toBe('running')
    // The subscription was released: the same client may stream the execution again.
    const again: number[] = []
    for await (const ev of client.stream(executionId, { since: 1, timeout: 100 })) again.push(ev.seq)
    expect(again).toEqual([])
  })

  it('breaking out of a for-await unsubscribes', async () => {
    const server = own(await startTestServer())
    const client = own(nodeClient(server.url))
    const { executionId } = await client.start('long-job', { count: 100, size: 16, intervalMs: 2 })
    const seen: number[] = []
    for await (const ev of client.stream(executionId)) {
      seen.push(ev.seq)
      if (ev.seq === 3) break
    }
    expect(seen).toEqual([1, 2, 3])
    const rest: number[] = []
    for await (const ev of client.stream(executionId, { since: 3 })) rest.push(ev.seq)
    expect(rest).toEqual(range(4, 100))
  })

  it('continue answers an interrupt seen in the stream; a second answer is refused', async () => {
    const server = own(await startTestServer())
    const client = own(nodeClient(server.url))
    const { executionId } = await client.start('approval', { request: 'ship it' })
    const items: any[] = []
    const statuses: string[] = []
    let ended = false
    client.subscribe(executionId, {
      onEvent: (ev) => items.push(ev.data),
      onStatus: (s) => statuses.push(s),
      onEnd: () => {
        ended = true
      },
    })
    await until(() => items.some((d) => d.type === 'interrupt' && d.action === 'pause'), 5_000, 'the pause')
    await until(() => statuses.includes('waiting'), 5_000, 'status waiting')
    const interruptId = items.find((d) => d.action === 'pause').interrupt.id as string
    await client.continue(executionId, interruptId, { approved: true, note: 'ok' })
    await expect(client.continue(executionId, interruptId, true)).rejects.toMatchObject({
      code: 'interrupt_not_waiting',
    })
    expect(await client.result(executionId, { wait: 5_000 })).toEqual({
      status: 'completed',
      result: { request: 'ship it', approved: true, note: 'ok', status: 'approved' },
    })
    await until(() => ended, 5_000, 'stream_end')
    expect(items.map((d) => `${d.type}${d.action ? `:${d.action}` : ''}`)).toEqual([
      'request',
      'interrupt:pause',
      'interrupt:resume',
      'decision',
    ])
  })

  it('a resume from behind retention surfaces a gap to onGap, then continues exactly', async () => {
    const server = own(await startTestServer({ retainedEvents: 50 }))
    const client = own(nodeClient(server.url))
    const { executionId } = await client.start('long-job', { count: 200, size: 16, intervalMs: 0 })
    await client.result(executionId, { wait: 5_000 })
    const seqs: number[] = []
    const gaps: GapInfo[] = []
    let ended = false
    client.subscribe(executionId, {
      since: 10,
      onEvent: (ev) => seqs.push(ev.seq),
      onGap: (g) => gaps.push(g),
      onEnd: () => {
        ended = true
      },
    })
    await until(() => ended, 5_000, 'stream_end')
    expect(gaps).toEqual([{ from: 11, to: 150 }])
    expect(seqs).toEqual(range(151, 200))
  })

  it('calls made before the socket opens are queued, and the queue is bounded', async () => {
    const server = own(await startTestServer())
    const seed = own(nodeClient(server.url))
    const { executionId } = await seed.start('long-job', { count: 5, size: 16, intervalMs: 0 })
    await seed.result(executionId, { wait: 5_000 })
    const client = own(nodeClient(server.url, { maxQueue: 2 }))
    expect(client.connectionState).toBe('connecting')
    const first = client.stopStream(executionId)
    const second = client.stopStream(executionId)
    await expect(client.stopStream(executionId)).rejects.toMatchObject({ code: 'queue_full' })
    expect(await first).toEqual({ alreadyStopped: true })
    expect(await second).toEqual({ alreadyStopped: true })
    expect(client.connectionState).toBe('open')
  })

  it('a subscribe the server refuses goes to onError and ends the subscription', async () => {
    const server = own(await startTestServer())
    const client = own(nodeClient(server.url))
    const w = watch(client, 'no-such-execution')
    await until(() => w.errors.length > 0, 5_000, 'the refusal')
    expect(w.errors[0]).toMatchObject({ code: 'not_found' })
    expect(w.sub.ended).toBe(true)
    await expect(
      (async () => {
        for await (const _ of client.stream('no-such-execution')) {
          // nothing arrives
        }
      })(),
    ).rejects.toMatchObject({ code: 'not_found' })
  })

  it('frames that fail the protocol go to onError; the client stays up and the sequence stays exact', async () => {
    const server = own(await startTestServer())
    const proxy = own(await createProxy(server.port))
    const client = own(nodeClient(`http://127.0.0.1:${proxy.port}`))
    const { executionId } = await client.start('long-job', { count: 3, size: 16, intervalMs: 400 })
    const w = watch(client, executionId)
    await until(() => w.events.length === 1, 5_000, 'seq 1')
    // Injected between two real frames while the execution is quiet: not JSON, a broken event, a
    // repeat of seq 1, and a well-formed event that skips seqs (a protocol error the client must repair).
    proxy.injectToClients(wsText('not json'))
    proxy.injectToClients(wsText(JSON.stringify({ type: 'event', executionId, seq: 'two', ts: 1, data: {} })))
    // A seq the client already has, well-formed and with other data: dropped without a word.
    proxy.injectToClients(
      wsText(JSON.stringify({ type: 'event', executionId, seq: 1, ts: 1, data: { n: 7, of: 3, pad: 'x' } })),
    )
    proxy.injectToClients(wsText(JSON.stringify({ type: 'event', executionId, seq: 9, ts: 1, data: {} })))
    // Once the repair is over and seq 2 is in, repeats of both seqs it has.
    await until(() => w.events.length === 2, 5_000, 'seq 2')
    for (const seq of [2, 1])
      proxy.injectToClients(
        wsText(JSON.stringify({ type: 'event', executionId, seq, ts: 1, data: { n: 7, of: 3, pad: 'x' } })),
      )
    await until(() => w.state.end !== null, 10_000, 'stream_end')
    expect(w.events.map((e) => e.seq)).toEqual([1, 2, 3])
    expect(w.events.map((e) => e.data.n)).toEqual([1, 2, 3])
    expect(w.errors.map((e) => e.code)).toEqual(['bad_frame', 'bad_frame', 'protocol_error'])
    expect(w.errors[2]!.message).toContain('received 9')
    expect(client.connectionState).toBe('open')
  })

  it('the watchdog reconnects a silent link, and the subscription resumes exactly', async () => {
    const server = own(await startTestServer({ heartbeatMs: 150 }))
    const proxy = own(await createProxy(server.port))
    const client = own(
      nodeClient(`http://127.0.0.1:${proxy.port}`, {
        reconnect: { baseMs: 10, maxMs: 50, minUptimeMs: 1000, connectTimeoutMs: 300 },
      }),
    )
    const states: string[] = []
    client.onConnectionState((s) => states.push(s))
    const { executionId } = await client.start('long-job', { count: 200, size: 16, intervalMs: 5 })
    const w = watch(client, executionId)
    await until(() => w.events.length >= 10, 5_000, 'first events')
    proxy.pause()
    const pausedAt = Date.now()
    await until(() => states.includes('reconnecting'), 3_000, 'the watchdog')
    expect(Date.now() - pausedAt).toBeLessThan(2_000)
    proxy.resume()
    await until(() => w.state.end !== null, 10_000, 'stream_end')
    expect(w.events.map((e) => e.seq)).toEqual(range(1, 200))
    expect(w.errors).toEqual([])
  })

  it('rotates across urls: a dead first node does not stop the client', async () => {
    const server = own(await startTestServer())
    const dead = await freePort()
    const client = own(nodeClient([`http://127.0.0.1:${dead}`, server.url]))
    const started = await client.start('long-job', { count: 10, size: 16, intervalMs: 0 })
    const seen: number[] = []
    for await (const ev of client.stream(started.executionId)) seen.push(ev.seq)
    expect(seen).toEqual(range(1, 10))
  })

  it('backs off with a cap, without a hot loop, while no node answers', async () => {
    const port = await freePort()
    // The proxy accepts and at once drops every connection, since nothing listens behind it.
    const proxy = own(await createProxy(port))
    const baseMs = 20
    const maxMs = 200
    const client = own(
      nodeClient(`http://127.0.0.1:${proxy.port}`, {
        reconnect: { baseMs, maxMs, minUptimeMs: 1000, connectTimeoutMs: 1000 },
      }),
    )
    // Retry k waits up to baseMs * 2^k; from retry `capFrom` on, only the cap keeps that under maxMs.
    const capFrom = Math.floor(Math.log2(maxMs / baseMs)) + 1
    const capped = 8
    // The gap between two accepts is the wait plus a refused connect on loopback: a few ms, but
    // a loaded machine fires timers late (310 ms seen for a 200 ms cap). Without the cap the
    // waits from retry `capFrom` on are draws from ceilings of 400 ms, 800 ms, ... 80 s, and all
    // of them stay under 1.2 s with probability below 1e-5.
    const slackMs = 1_000
    const accepted = proxy.acceptedAt
    const gaps = () => accepted.slice(1).map((t, i) => t - accepted[i]!)
    await until(
      () => gaps().length >= capFrom + capped || gaps().some((g) => g > maxMs + slackMs),
      (capFrom + capped) * (maxMs + slackMs) + 2_000,
      `${capFrom + capped} retries`,
    )
    const seen = gaps()
    expect(seen.filter((g) => g > maxMs + slackMs)).toEqual([])
    expect(seen.length).toBeGreaterThanOrEqual(capFrom + capped)
    // Not a hot loop: eight full-jitter waits under the cap sum to less than one cap with
    // probability 1/8! (Irwin-Hall); a loop without waits does it every time.
    const cappedTotal = seen.slice(capFrom, capFrom + capped).reduce((x, y) => x + y, 0)
    expect(cappedTotal).toBeGreaterThanOrEqual(maxMs)
    expect(client.connectionState).toBe('reconnecting')
  })

  it('close() ends streams quietly, fails pending calls and reports closed', async () => {
    const server = own(await startTestServer())
    const client = nodeClient(server.url)
    const { executionId } = await client.start('long-job', { count: 2, size: 16, intervalMs: 60_000 })
    const states: string[] = []
    client.onConnectionState((s) => states.push(s))
    const seen: number[] = []
    const done = (async () => {
      for await (const ev of client.stream(executionId)) seen.push(ev.seq)
    })()
    await until(() => seen.length === 1, 5_000, 'seq 1')
    const pending = client.result(executionId, { wait: 30_000 })
    client.close()
    await waitFor(done, 2_000, 'the stream to end')
    await expect(pending).rejects.toSatisfy((e: unknown) => isFlowcastError(e, 'connection_closed'))
    expect(states).toEqual(['closed'])
    expect(client.connectionState).toBe('closed')
    await expect(client.stopStream(executionId)).rejects.toMatchObject({ code: 'connection_closed' })
    expect(() => client.subscribe(executionId)).toThrow(FlowcastError)
  })
})

/** One unmasked WebSocket text frame, as a server sends it. */
function wsText(text: string): Buffer {
  const payload = Buffer.from(text)
  if (payload.length >= 126) throw new Error('keep injected frames short')
  return Buffer.concat([Buffer.from([0x81, payload.length]), payload])
}
