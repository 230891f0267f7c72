/**
 * Token lifecycle in the SDK (issue 12): tokens that run out mid-stream are ended by the server
 * with `token_expired`; the client asks `getToken` for a fresh one and resubscribes from its last
 * seq, so the application sees every seq exactly once. Per-subscription tokens let one client be
 * a viewer of one execution and an admin of another over one socket.
 */
import { describe, expect, it } from 'vitest'
import type { TokenRequest } from '../../client-sdk/index.ts'
import { type FlowcastServer, startServer } from '../../server/index.ts'
import { useCleanup } from '../helpers/cleanup.ts'
import { until } from '../helpers/wait.ts'
import { flowsWithLongJob, nodeClient, range, shortTokens, watch } from './fixtures.ts'

const own = useCleanup()

const API_KEY = 'sdk-refresh-api-key-0123456789abcdef'
const SECRET = 'sdk-refresh-secret-0123456789abcdef0123456789'

function startAuthServer(): Promise<FlowcastServer> {
  return startServer({ port: 0, auth: { apiKey: API_KEY, secret: SECRET }, flows: flowsWithLongJob() })
}

describe('SDK token refresh', () => {
  it('tokens of 2 s expire mid-stream; getToken refreshes them and the stream ends with exactly 1..N', async () => {
    const server = own(await startAuthServer())
    const starter = own(nodeClient(server.url, { apiKey: API_KEY }))
    const count = 500
    const { executionId } = await starter.start('long-job', { count, size: 16, intervalMs: 10 })
    const asked: TokenRequest[] = []
    const client = own(nodeClient(server.url, { getToken: shortTokens(server, executionId, asked) }))
    const seen = watch(client, executionId)
    await until(() => seen.end !== '', 60_000, 'stream_end')
    expect(seen).toEqual({ seqs: range(1, count), errors: [], end: 'completed' })
    // The server ended the subscription at least once, and the client asked for that execution.
    expect(asked.some((r) => r.reason === 'expired' && r.executionId === executionId)).toBe(true)
    expect(client.connectionState).toBe('open')
  })

  it('one client, one socket: a viewer subscription of A and an admin one of B; stop B by its token', async () => {
    const server = own(await startAuthServer())
    const starter = own(nodeClient(server.url, { apiKey: API_KEY }))
    const a = await starter.start('long-job', { count: 300, size: 16, intervalMs: 10 })
    const b = await starter.start('long-job', { count: 3000, size: 16, intervalMs: 10 })
    const client = own(nodeClient(server.url, { token: a.tokens!.viewer, tokenInFrame: true }))
    const seqsA: number[] = []
    const seqsB: number[] = []
    let endA = ''
    let endB = ''
    client.subscribe(a.executionId, { onEvent: (ev) => seqsA.push(ev.seq), onEnd: (e) => (endA = e.reason) })
    client.subscribe(b.executionId, {
      token: b.tokens!.admin,
      onEvent: (ev) => seqsB.push(ev.seq),
      onEnd: (e) => (endB = e.reason),
    })
    await until(() => seqsA.length >= 3 && seqsB.length >= 3, 10_000, 'events of both')
    // Both subscriptions travel over this client's one socket (the starter holds the other).
    const health = await fetch(`${server.url}/healthz`).then((r) => r.json())
    expect(health.connections).toBe(2)
    await expect(client.stopStream(a.executionId)).rejects.toMatchObject({ code: 'forbidden' })
    expect(await client.stopStream(b.executionId)).toEqual({ stopped: true })
    await until(() => endB !== '', 10_000, 'B stopped')
    expect(endB).toBe('stopped')
    await until(() => endA !== '', 30_000, 'A completed')
    expect(endA).toBe('completed')
    expect(seqsA).toEqual(range(1, 300))
    expect(seqsB).toEqual(range(1, seqsB.length))
    expect((await starter.snapshot(b.executionId)).status).toBe('running')
  })

  it("a subscription's token function is asked before its first subscribe, so its rights decide", async () => {
    const server = own(await startAuthServer())
    const starter = own(nodeClient(server.url, { apiKey: API_KEY }))
    const a = await starter.start('long-job', { count: 5, size: 16, intervalMs: 0 })
    const b = await starter.start('long-job', { count: 50, size: 16, intervalMs: 0 })
    const client = own(nodeClient(server.url, { token: a.tokens!.viewer, tokenInFrame: true }))
    let asked = 0
    const seen = watch(client, b.executionId, {
      token: async () => {
        asked++
        return b.tokens!.viewer
      },
    })
    await until(() => seen.end !== '', 10_000, 'stream_end')
    expect(seen).toEqual({ seqs: range(1, 50), errors: [], end: 'completed' })
    expect(asked).toBe(1)
  })

  it("a command refused with token_expired (the socket's token ran out) is sent again with a token from getToken", async () => {
    const server = own(await startAuthServer())
    const starter = own(nodeClient(server.url, { apiKey: API_KEY }))
    const { executionId } = await starter.start('long-job', { count: 5000, size: 16, intervalMs: 5 })
    const asked: TokenRequest[] = []
    let socketTokenExp = 0
    const client = own(
      nodeClient(server.url, {
        getToken: async (request) => {
          asked.push(request)
          const token = (await server.mintToken(executionId, 'admin', 2))!
          if (!request.executionId)
            socketTokenExp = JSON.parse(Buffer.from(token.split('.')[1]!, 'base64url').toString()).exp * 1000
          return token
        },
      }),
    )
    await until(() => client.connectionState === 'open' && socketTokenExp > 0, 10_000, 'the socket')
    await until(() => Date.now() >= socketTokenExp, 10_000, "the socket's token to expire")
    expect(await client.stopStream(executionId)).toEqual({ stopped: true })
    expect(asked.filter((r) => r.executionId === executionId).map((r) => r.reason)).toEqual(['expired'])
    expect((await starter.snapshot(executionId)).streamOpen).toBe(false)
    expect(
      await client.cancel(executionId, { token: (await server.mintToken(executionId, 'admin'))! }),
    ).toEqual({
      cancelled: true,
    })
  })
})
