/**
 * Cancellation and lazy start (issue 12): every waiting call takes an AbortSignal, an abort (or a
 * `break`) while the stream is idle takes effect at once and the server lets go of the
 * subscription; `autoConnect: false` opens no socket until `connect()` or the first use.
 */

import { describe, expect, it } from 'vitest'
import WebSocket from 'ws'
import { isFlowcastError } from '../../client-sdk/index.ts'
import { useCleanup } from '../helpers/cleanup.ts'
import { eventually } from '../helpers/poll.ts'
import { until, waitFor } from '../helpers/wait.ts'
import { nodeClient, startTestServer } from './fixtures.ts'

const own = useCleanup()

/** An idle execution: one event at once, the next only after 60 s. */
const IDLE = { count: 3, size: 16, intervalMs: 60_000 }

describe('abort', () => {
  it('aborting an idle stream ends the for-await at once with `aborted`; the server lets go', async () => {
    const server = own(await startTestServer())
    const client = own(nodeClient(server.url))
    const { executionId } = await client.start('long-job', IDLE)
    const ctrl = new AbortController()
    const seen: number[] = []
    const loop = (async () => {
      for await (const ev of client.stream(executionId, { signal: ctrl.signal })) {
        seen.push(ev.seq)
        ctrl.abort()
      }
    })()
    const err = await waitFor(
      loop.then(
        () => null,
        (e) => e,
      ),
      5_000,
      'the loop to end',
    )
    expect(isFlowcastError(err, 'aborted')).toBe(true)
    expect(seen).toEqual([1])
    await eventually(async () => (await client.snapshot(executionId)).subscribers === 0, 1_000, 'release')
  })

  it('return() while next() waits settles both at once and unsubscribes', async () => {
    const server = own(await startTestServer())
    const client = own(nodeClient(server.url))
    const { executionId } = await client.start('long-job', IDLE)
    const it = client.stream(executionId)[Symbol.asyncIterator]()
    expect((await it.next()).value?.seq).toBe(1)
    const waiting = it.next()
    expect(await waitFor(it.return!(), 1_000, 'return()')).toEqual({ value: undefined, done: true })
    expect(await waitFor(waiting, 1_000, 'the pending next()')).toEqual({ value: undefined, done: true })
    await eventually(async () => (await client.snapshot(executionId)).subscribers === 0, 1_000, 'release')
  })

  it('subscribe with a signal: abort ends it quietly and releases the server side', async () => {
    const server = own(await startTestServer())
    const client = own(nodeClient(server.url))
    const { executionId } = await client.start('long-job', IDLE)
    const ctrl = new AbortController()
    const errors: string[] = []
    const seqs: number[] = []
    const sub = client.subscribe(executionId, {
      signal: ctrl.signal,
      onEvent: (ev) => seqs.push(ev.seq),
      onError: (e) => errors.push(e.code),
    })
    await until(() => seqs.length === 1, 5_000, 'the first event')
    ctrl.abort()
    expect(sub.ended).toBe(true)
    expect(errors).toEqual([])
    await eventually(async () => (await client.snapshot(executionId)).subscribers === 0, 1_000, 'release')
    // Already aborted: nothing is subscribed at all.
    const again = client.subscribe(executionId, { signal: ctrl.signal })
    expect(again.ended).toBe(true)
    expect(client.watchers(executionId)).toBe(0)
  })

  it('result, start and stopStream reject with `aborted`', async () => {
    const server = own(await startTestServer())
    const client = own(nodeClient(server.url))
    const { executionId } = await client.start('long-job', IDLE)
    const ctrl = new AbortController()
    const waiting = client.result(executionId, { wait: 30_000, signal: ctrl.signal })
    ctrl.abort()
    await expect(waitFor(waiting, 2_000, 'result')).rejects.toMatchObject({ code: 'aborted' })
    await expect(client.start('long-job', IDLE, { signal: ctrl.signal })).rejects.toMatchObject({
      code: 'aborted',
    })
    const lazy = own(nodeClient(server.url, { autoConnect: false }))
    const stop = new AbortController()
    const stopping = lazy.stopStream(executionId, { signal: stop.signal })
    stop.abort()
    await expect(stopping).rejects.toMatchObject({ code: 'aborted' })
    // The aborted command was taken back: the stream is still open.
    expect((await client.snapshot(executionId)).streamOpen).toBe(true)
  })
})

describe('lazy connect', () => {
  it('autoConnect: false opens no socket until the first subscription; connect() is idempotent', async () => {
    const server = own(await startTestServer())
    let sockets = 0
    class Counted extends WebSocket {
      constructor(url: string) {
        super(url)
        sockets++
      }
    }
    const client = own(nodeClient(server.url, { autoConnect: false, WebSocket: Counted }))
    expect(client.connectionState).toBe('idle')
    const { executionId } = await client.start('long-job', { count: 5, size: 16, intervalMs: 0 })
    await client.result(executionId, { wait: 5_000 })
    expect(sockets).toBe(0)
    expect(client.connectionState).toBe('idle')
    const seqs: number[] = []
    for await (const ev of client.stream(executionId)) seqs.push(ev.seq)
    expect(seqs).toEqual([1, 2, 3, 4, 5])
    client.connect()
    client.connect()
    expect(sockets).toBe(1)
    expect(client.connectionState).toBe('open')
  })

  it('a client made without any WebSocket (server-side rendering) is fine until it is used', () => {
    const client = own(nodeClient('http://127.0.0.1:9', { autoConnect: false, WebSocket: undefined }))
    expect(client.connectionState).toBe('idle')
    expect(client.watchers('x')).toBe(0)
  })
})
