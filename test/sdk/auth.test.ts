/**
 * The SDK with token auth on (issue 4): a viewer watches but its stop is refused, an admin's stop
 * ends the viewer's stream, a refused token closes the client for good (no reconnect loop).
 */
import { describe, expect, it } from 'vitest'
import type { FlowcastError, StreamEvent } from '../../client-sdk/index.ts'
import { type FlowcastServer, startServer } from '../../server/index.ts'
import { useCleanup } from '../helpers/cleanup.ts'
import { until } from '../helpers/wait.ts'
import { flowsWithLongJob, nodeClient, range } from './fixtures.ts'

const own = useCleanup()

const API_KEY = 'sdk-test-api-key-0123456789abcdef'
const SECRET = 'sdk-test-secret-0123456789abcdef0123456789'

function startAuthServer(): Promise<FlowcastServer> {
  return startServer({
    port: 0,
    auth: { apiKey: API_KEY, secret: SECRET },
    flows: flowsWithLongJob(),
  })
}

describe('client SDK with token auth', () => {
  it('a start without the API key is refused with 401', async () => {
    const server = own(await startAuthServer())
    const res = await fetch(`${server.url}/api/flows/long-job/executions`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ input: { count: 1, size: 16, intervalMs: 0 } }),
    })
    expect(res.status).toBe(401)
    expect(await res.json()).toMatchObject({ error: { code: 'unauthorized' } })
  })

  it("a viewer watches but cannot stop; an admin's stop ends the viewer's stream", async () => {
    const server = own(await startAuthServer())
    const starter = own(nodeClient(server.url, { apiKey: API_KEY }))
    const started = await starter.start('long-job', { count: 500, size: 16, intervalMs: 5 })
    expect(started.tokens).toBeDefined()
    const { viewer, admin } = started.tokens!

    for (const tokenInFrame of [false, true]) {
      const viewerClient = own(nodeClient(server.url, { token: viewer, tokenInFrame }))
      const events: StreamEvent[] = []
      const errors: FlowcastError[] = []
      viewerClient.subscribe(started.executionId, {
        onEvent: (ev) => events.push(ev),
        onError: (err) => errors.push(err),
      })
      await until(() => events.length >= 3, 5_000, 'viewer events')
      await expect(viewerClient.stopStream(started.executionId)).rejects.toMatchObject({
        name: 'FlowcastError',
        code: 'forbidden',
      })
      // Refused, yet the socket stays and the stream goes on.
      const seen = events.length
      await until(() => events.length > seen + 3, 5_000, 'events after the refusal')
      expect(viewerClient.connectionState).toBe('open')
      expect(errors).toEqual([])
      expect((await viewerClient.result(started.executionId)).status).toBe('running')
    }

    const viewerClient = own(nodeClient(server.url, { token: viewer }))
    const seqs: number[] = []
    let endReason = ''
    viewerClient.subscribe(started.executionId, {
      onEvent: (ev) => seqs.push(ev.seq),
      onEnd: (info) => {
        endReason = info.reason
      },
    })
    await until(() => seqs.length >= 3, 5_000, 'events')
    const adminClient = own(nodeClient(server.url, { token: admin }))
    expect(await adminClient.stopStream(started.executionId)).toEqual({ stopped: true })
    await until(() => endReason !== '', 5_000, 'stream_end at the viewer')
    expect(endReason).toBe('stopped')
    expect(seqs).toEqual(range(1, seqs.length))
  })

  it('a client with only the API key starts, watches and stops, and never puts the key in a URL', async () => {
    const server = own(await startAuthServer())
    const urls: string[] = []
    const { default: WebSocket } = await import('ws')
    class Recording extends WebSocket {
      constructor(url: string | URL, ...rest: any[]) {
        urls.push(String(url))
        super(url, ...rest)
      }
    }
    const client = own(nodeClient(server.url, { apiKey: API_KEY, WebSocket: Recording }))
    const { executionId } = await client.start('long-job', { count: 400, size: 16, intervalMs: 5 })
    const seqs: number[] = []
    let endReason = ''
    client.subscribe(executionId, {
      onEvent: (ev) => seqs.push(ev.seq),
      onEnd: (info) => {
        endReason = info.reason
      },
    })
    await until(() => seqs.length >= 3, 5_000, 'events with the API key')
    expect(await client.stopStream(executionId)).toEqual({ stopped: true })
    await until(() => endReason === 'stopped', 5_000, 'stream_end')
    expect(seqs).toEqual(range(1, seqs.length))
    expect(urls.length).toBeGreaterThan(0)
    for (const u of urls) expect(u).not.toContain(API_KEY)
  })

  it('a refused token closes the client for good instead of reconnecting', async () => {
    const server = own(await startAuthServer())
    for (const tokenInFrame of [false, true]) {
      const client = own(nodeClient(server.url, { token: 'not-a-token', tokenInFrame }))
      const states: string[] = []
      const errors: string[] = []
      client.onConnectionState((s) => states.push(s))
      client.subscribe('whatever', { onError: (err) => errors.push(err.code) })
      await until(() => client.connectionState === 'closed', 8_000, 'the client to close')
      expect(states).not.toContain('reconnecting')
      expect(errors).toEqual(['unauthorized'])
    }
  })
})
