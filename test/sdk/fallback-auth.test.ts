/**
 * The SSE fallback with auth on (issue 12): while the WebSocket is blocked the client trades its
 * token for a stream ticket (token in a header) and opens the stream with `?ticket=`, so no token
 * ever goes into a URL; the stream is exact, survives its tokens running out (getToken refreshes,
 * the stream reopens from the last seq), and commands go over HTTP with the token in a header.
 */
import net from 'node:net'
import { describe, expect, it } from 'vitest'
import WebSocket from 'ws'
import type { FetchLike, TokenRequest } from '../../client-sdk/index.ts'
import { type FlowcastServer, startServer } from '../../server/index.ts'
import { useCleanup } from '../helpers/cleanup.ts'
import { until } from '../helpers/wait.ts'
import { flowsWithLongJob, nodeClient, range, shortTokens, watch } from './fixtures.ts'

const own = useCleanup()

const API_KEY = 'sdk-sse-auth-api-key-0123456789abcdef'
const SECRET = 'sdk-sse-auth-secret-0123456789abcdef0123456789'

function startAuthServer(): Promise<FlowcastServer> {
  return startServer({ port: 0, auth: { apiKey: API_KEY, secret: SECRET }, flows: flowsWithLongJob() })
}

/** A WebSocket class whose every connection goes to a port where nothing listens. */
async function blockedWs(): Promise<typeof WebSocket> {
  const srv = net.createServer()
  await new Promise<void>((r) => srv.listen(0, '127.0.0.1', r))
  const { port } = srv.address() as net.AddressInfo
  await new Promise<void>((r) => srv.close(() => r()))
  return class Blocked extends WebSocket {
    constructor(url: string) {
      super(url.replace(/:\d+\//, `:${port}/`))
    }
  } as unknown as typeof WebSocket
}

interface Call {
  method: string
  url: string
  authorization: string | undefined
}

/** `fetch`, recording each request's method, URL and Authorization header. */
function recordingFetch(calls: Call[]): FetchLike {
  return (input, init) => {
    const headers = (init?.headers ?? {}) as Record<string, string>
    calls.push({ method: init?.method ?? 'GET', url: String(input), authorization: headers.authorization })
    return fetch(input, init)
  }
}

describe('SSE fallback with auth on', () => {
  it('streams over a ticket, exactly; the token stays in headers; a stop goes over HTTP with the admin token', async () => {
    const server = own(await startAuthServer())
    const starter = own(nodeClient(server.url, { apiKey: API_KEY }))
    const { executionId, tokens } = await starter.start('long-job', { count: 300, size: 16, intervalMs: 5 })
    const calls: Call[] = []
    const client = own(
      nodeClient(server.url, {
        token: tokens!.viewer,
        WebSocket: await blockedWs(),
        fetch: recordingFetch(calls),
      }),
    )
    const seen = watch(client, executionId)
    await until(() => seen.end !== '', 30_000, 'stream_end over SSE')
    expect(client.transport).toBe('sse')
    expect(seen).toEqual({ seqs: range(1, 300), errors: [], end: 'completed' })
    const streams = calls.filter((c) => c.url.includes('/stream?'))
    expect(streams.length).toBeGreaterThan(0)
    for (const c of streams) {
      expect(c.url).toMatch(/\/stream\?ticket=/)
      expect(c.authorization).toBeUndefined()
    }
    const traded = calls.filter((c) => c.url.endsWith('/stream-ticket'))
    expect(traded.map((c) => [c.method, c.authorization])).toContainEqual([
      'POST',
      `Bearer ${tokens!.viewer}`,
    ])
    for (const c of calls) expect(c.url).not.toContain(tokens!.viewer)

    // Commands on SSE go over HTTP: the viewer's stop is refused, an admin token's (in the header) stops it.
    const second = await starter.start('long-job', { count: 5000, size: 16, intervalMs: 5 })
    const got = watch(client, second.executionId, { token: second.tokens!.viewer })
    await until(() => got.seqs.length >= 5, 10_000, 'events of the second')
    await expect(client.stopStream(second.executionId)).rejects.toMatchObject({ code: 'forbidden' })
    expect(await client.stopStream(second.executionId, { token: second.tokens!.admin })).toEqual({
      stopped: true,
    })
    await until(() => got.end !== '', 10_000, 'the stop')
    expect(got).toEqual({ seqs: range(1, got.seqs.length), errors: [], end: 'stopped' })
    const stop = calls.filter((c) => c.url.endsWith('/stop-stream'))
    expect(stop.map((c) => c.authorization)).toEqual([
      `Bearer ${second.tokens!.viewer}`,
      `Bearer ${second.tokens!.admin}`,
    ])
    expect(await client.cancel(second.executionId, { token: second.tokens!.admin })).toEqual({
      cancelled: true,
    })
    expect((await starter.snapshot(second.executionId)).status).toBe('cancelled')
  })

  it('over SSE, tokens of 2 s run out mid-stream; getToken refreshes and the stream ends with exactly 1..N', async () => {
    const server = own(await startAuthServer())
    const starter = own(nodeClient(server.url, { apiKey: API_KEY }))
    const count = 500
    const { executionId } = await starter.start('long-job', { count, size: 16, intervalMs: 10 })
    const asked: TokenRequest[] = []
    const client = own(
      nodeClient(server.url, {
        WebSocket: await blockedWs(),
        getToken: shortTokens(server, executionId, asked),
      }),
    )
    const seen = watch(client, executionId)
    await until(() => seen.end !== '', 60_000, 'stream_end over SSE')
    expect(client.transport).toBe('sse')
    expect(seen).toEqual({ seqs: range(1, count), errors: [], end: 'completed' })
    expect(asked.some((r) => r.reason === 'expired' && r.executionId === executionId)).toBe(true)
  })
})
