/** Shared pieces of the SDK tests: the server under test, the long-job flow and a `ws`-backed client. */
import WebSocket from 'ws'
import { z } from 'zod'
import {
  type ClientOptions,
  createClient,
  type FlowcastClient,
  type GetToken,
  type SubscribeHandlers,
  type TokenRequest,
} from '../../client-sdk/index.ts'
import { catalogFlows } from '../../flows/catalog/index.ts'
import { TriggerFlow } from '../../flows/index.ts'
import { type FlowcastServer, startServer } from '../../server/index.ts'

/** The same contract as the catalog's `long-job`, so the tests read one shape either way. */
export const longJobContract = {
  input: z.object({
    count: z.number().int().min(1),
    size: z.number().int().min(16).default(64),
    intervalMs: z.number().int().min(0).default(0),
  }),
  stream: z.object({ n: z.number().int(), of: z.number().int(), pad: z.string() }),
  result: z.object({ put: z.number().int(), accepted: z.number().int() }),
}

/** The tests' stand-in for the catalog's `long-job` (used only while the catalog has none). */
export function testLongJob(name = 'long-job'): TriggerFlow<typeof longJobContract> {
  const flow = new TriggerFlow({ name, contract: longJobContract })
  const run = flow.chunk('run', async (data) => {
    const { count, size, intervalMs } = data.input
    const pad = 'x'.repeat(Math.max(0, size - 30))
    let put = 0
    let accepted = 0
    while (put < count && !data.signal.aborted) {
      put++
      if (await data.putIntoStream({ n: put, of: count, pad })) accepted++
      if (put < count)
        await (intervalMs > 0 ? sleep(intervalMs, data.signal) : new Promise((r) => setImmediate(r)))
    }
    return { put, accepted }
  })
  flow.to(run).end()
  return flow
}

function sleep(ms: number, signal: AbortSignal): Promise<void> {
  return new Promise((resolve) => {
    const timer = setTimeout(done, ms)
    signal.addEventListener('abort', done, { once: true })
    function done(): void {
      clearTimeout(timer)
      signal.removeEventListener('abort', done)
      resolve()
    }
  })
}

/** The catalog, plus our own `long-job` when the catalog has none yet. */
export function flowsWithLongJob(): TriggerFlow<any>[] {
  const catalog = catalogFlows()
  return catalog.some((f) => f.name === 'long-job') ? catalog : [...catalog, testLongJob()]
}

/** A server on port 0 with auth off and the long-job flow. */
export function startTestServer(limits?: Record<string, number>): Promise<FlowcastServer> {
  const options: Parameters<typeof startServer>[0] = { port: 0, auth: 'off', flows: flowsWithLongJob() }
  if (limits) options.limits = limits
  return startServer(options)
}

/** A client over the `ws` package with fast reconnects, so tests spend their time on behaviour. */
export function nodeClient(url: string | string[], extra: Partial<ClientOptions> = {}): FlowcastClient {
  const base: ClientOptions = Array.isArray(url) ? { urls: url } : { url }
  return createClient({
    ...base,
    WebSocket,
    reconnect: { baseMs: 10, maxMs: 100, minUptimeMs: 1000, connectTimeoutMs: 2000 },
    ...extra,
  })
}

/** [from, from+1, ..., to] */
export function range(from: number, to: number): number[] {
  return Array.from({ length: Math.max(0, to - from + 1) }, (_, k) => from + k)
}

/** What one subscription saw: its seqs, its errors' codes, and how it ended ('' until it did). */
export interface Watched {
  seqs: number[]
  errors: string[]
  end: string
}

/** Subscribes to `executionId` on `client` (with `extra` handlers such as `token`), recording what it sees. */
export function watch(
  client: FlowcastClient,
  executionId: string,
  extra: Pick<SubscribeHandlers, 'token'> = {},
): Watched {
  const seen: Watched = { seqs: [], errors: [], end: '' }
  client.subscribe(executionId, {
    ...extra,
    onEvent: (ev) => seen.seqs.push(ev.seq),
    onError: (err) => seen.errors.push(err.code),
    onEnd: (info) => {
      seen.end = info.reason
    },
  })
  return seen
}

/** A `getToken` minting viewer tokens of `ttlSeconds` on `server` (for `executionId` when the request names none). */
export function shortTokens(
  server: FlowcastServer,
  executionId: string,
  asked: TokenRequest[],
  ttlSeconds = 2,
): GetToken {
  return (request) => {
    asked.push(request)
    return server.mintToken(request.executionId ?? executionId, 'viewer', ttlSeconds)
  }
}
