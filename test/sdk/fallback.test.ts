/**
 * The SSE fallback (issue 12): while the WebSocket cannot connect, subscriptions go over SSE with
 * the same seqs, resume and exactly-once delivery, and move back to the WebSocket once it
 * connects again; commands go over HTTP meanwhile.
 */
import net from 'node:net'
import { describe, expect, it } from 'vitest'
import WebSocket from 'ws'
import { useCleanup } from '../helpers/cleanup.ts'
import { until } from '../helpers/wait.ts'
import { nodeClient, range, startTestServer } from './fixtures.ts'

const own = useCleanup()

/** A port where nothing listens: a WebSocket to it is refused, as by a proxy that blocks upgrades. */
async function deadPort(): Promise<number> {
  const srv = net.createServer()
  await new Promise<void>((r) => srv.listen(0, '127.0.0.1', r))
  const { port } = srv.address() as net.AddressInfo
  await new Promise<void>((r) => srv.close(() => r()))
  return port
}

describe('SSE fallback', () => {
  it('blocked WebSocket: the stream completes over SSE exactly, then moves back to the socket', async () => {
    const server = own(await startTestServer())
    const dead = await deadPort()
    const gate = { blocked: true, attempts: 0 }
    class Gated extends WebSocket {
      constructor(url: string) {
        gate.attempts++
        super(gate.blocked ? url.replace(`:${server.port}/`, `:${dead}/`) : url)
      }
    }
    const client = own(nodeClient(server.url, { WebSocket: Gated }))
    const { executionId } = await client.start('long-job', { count: 400, size: 16, intervalMs: 5 })
    const seqs: number[] = []
    const errors: string[] = []
    let ended = false
    client.subscribe(executionId, {
      onEvent: (ev) => seqs.push(ev.seq),
      onEnd: () => (ended = true),
      onError: (e) => errors.push(e.code),
    })
    await until(() => client.transport === 'sse' && seqs.length >= 50, 10_000, 'events over SSE')
    expect(client.connectionState).not.toBe('open')
    expect((await client.snapshot(executionId)).subscribers).toBe(1)
    gate.blocked = false
    await until(
      () => client.transport === 'websocket' && client.connectionState === 'open',
      10_000,
      'the socket',
    )
    const atSwitch = seqs.length
    await until(() => ended, 20_000, 'stream_end')
    expect(atSwitch).toBeLessThan(400)
    expect(seqs).toEqual(range(1, 400))
    expect(errors).toEqual([])
  })

  it('a stop over HTTP while on SSE ends the stream; with the fallback off nothing is delivered', async () => {
    const server = own(await startTestServer())
    const blocked = blockedWs(await deadPort())
    const client = own(nodeClient(server.url, { WebSocket: blocked.Class }))
    const { executionId } = await client.start('long-job', { count: 1000, size: 16, intervalMs: 10 })
    const seqs: number[] = []
    let reason = ''
    client.subscribe(executionId, { onEvent: (ev) => seqs.push(ev.seq), onEnd: (e) => (reason = e.reason) })
    await until(() => client.transport === 'sse' && seqs.length >= 5, 10_000, 'events over SSE')
    expect(await client.stopStream(executionId)).toEqual({ stopped: true })
    await until(() => reason !== '', 5_000, 'stream_end')
    expect(reason).toBe('stopped')
    expect(seqs).toEqual(range(1, seqs.length))

    const off = own(nodeClient(server.url, { WebSocket: blocked.Class, sseFallback: false }))
    const second = await off.start('long-job', { count: 5, size: 16, intervalMs: 0 })
    await off.result(second.executionId, { wait: 5_000 })
    const got: number[] = []
    off.subscribe(second.executionId, { onEvent: (ev) => got.push(ev.seq) })
    const from = blocked.attempts()
    await until(() => blocked.attempts() >= from + 3, 5_000, 'three more failed attempts')
    expect(off.transport).toBe('websocket')
    expect(got).toEqual([])
  })
})

/** A WebSocket class whose every connection goes to a dead port, counting the attempts. */
function blockedWs(dead: number) {
  let count = 0
  class Blocked extends WebSocket {
    constructor(url: string) {
      count++
      super(url.replace(/:\d+\//, `:${dead}/`))
    }
  }
  return { Class: Blocked, attempts: () => count }
}
