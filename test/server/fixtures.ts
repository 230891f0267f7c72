/** Small flows with exactly the behaviour the server tests need, and a server starter that cleans up. */
import { afterEach } from 'vitest'
import { z } from 'zod'
import { TriggerFlow } from '../../flows/index.ts'
import {
  type FlowcastServer,
  type ServerLimits,
  type ServerOptions,
  startServer,
} from '../../server/index.ts'

const tick = () => new Promise<void>((r) => setImmediate(r))

/**
 * `ticker { count, every?, size? }`: puts `{ i, pad }` for i = 1..count. `every` 0 puts them all
 * in one tick (a burst), 'tick' one per event-loop turn, a number of ms between them.
 */
export function tickerFlow(): TriggerFlow<any> {
  const flow = new TriggerFlow({
    name: 'ticker',
    description: 'Puts count items, i = 1..count.',
    exampleInput: { count: 3 },
    contract: {
      input: z.object({
        count: z.number().int().nonnegative(),
        every: z.union([z.literal('tick'), z.number().nonnegative()]).optional(),
        size: z.number().int().nonnegative().optional(),
      }),
    },
  })
  flow
    .to(
      flow.chunk('tick', async (data) => {
        const {
          count,
          every = 0,
          size = 0,
        } = data.input as { count: number; every?: 'tick' | number; size?: number }
        const pad = 'x'.repeat(size)
        for (let i = 1; i <= count; i++) {
          if (data.signal.aborted) break
          await data.putIntoStream({ i, pad })
          if (every === 'tick') await tick()
          else if (every > 0) await new Promise((r) => setTimeout(r, every))
        }
        return { count }
      }),
    )
    .end()
  return flow
}

/** A latch a test opens to let a flow go on. */
export class Gate {
  #open!: () => void
  readonly promise = new Promise<void>((r) => {
    this.#open = r
  })
  open(): void {
    this.#open()
  }
}

/**
 * `gated { before, after }`: puts `before` items, waits for `gate`, puts `after` items and
 * returns 'finished'. A stop of its stream must not stop it.
 */
export function gatedFlow(gate: Gate): TriggerFlow<any> {
  const flow = new TriggerFlow({ name: 'gated' })
  flow
    .to(
      flow.chunk('run', async (data) => {
        const { before = 0, after = 0 } = (data.input ?? {}) as { before?: number; after?: number }
        for (let i = 1; i <= before; i++) await data.putIntoStream({ phase: 'before', i })
        await gate.promise
        let dropped = 0
        for (let i = 1; i <= after; i++) if (!(await data.putIntoStream({ phase: 'after', i }))) dropped++
        return { finished: true, dropped }
      }),
    )
    .end()
  return flow
}

/** `thrower`: puts two items, then throws `boom`. */
export function throwerFlow(): TriggerFlow<any> {
  const flow = new TriggerFlow({ name: 'thrower' })
  flow
    .to(
      flow.chunk('explode', async (data) => {
        await data.putIntoStream({ n: 1 })
        await data.putIntoStream({ n: 2 })
        await tick()
        throw new Error('boom')
      }),
    )
    .end()
  return flow
}

/** `approval`-like: pauses for an answer and returns it. */
export function askFlow(): TriggerFlow<any> {
  const flow = new TriggerFlow({ name: 'ask' })
  flow
    .to(flow.chunk('ask', async (data) => data.pauseFor({ type: 'approval', payload: { q: 'ok?' } })))
    .to(
      flow.chunk('answered', async (data) => {
        const answer = data.value as { ok: boolean }
        await data.putIntoStream({ answer })
        return answer
      }),
    )
    .end()
  return flow
}

/** The flows every server test server runs (plus a gate-bound `gated`). */
export function testFlows(gate = new Gate()): TriggerFlow<any>[] {
  return [tickerFlow(), gatedFlow(gate), throwerFlow(), askFlow()]
}

const running: FlowcastServer[] = []
afterEach(async () => {
  await Promise.all(running.splice(0).map((s) => s.close()))
})

/** Starts a server on port 0 (auth off unless given) that is closed after the test. */
export async function serve(
  options: {
    gate?: Gate
    flows?: TriggerFlow<any>[]
    limits?: Partial<ServerLimits>
  } & Partial<Pick<ServerOptions, 'auth' | 'allowedOrigins' | 'logger'>> = {},
): Promise<FlowcastServer> {
  const { gate, flows, limits, ...rest } = options
  const server = await startServer({
    port: 0,
    auth: 'off',
    flows: flows ?? testFlows(gate),
    ...(limits ? { limits } : {}),
    ...rest,
  })
  running.push(server)
  return server
}

/** POSTs a start (with `apiKey` as bearer when given); returns the body (throws on a non-201). */
export async function start(
  server: FlowcastServer,
  flow: string,
  input?: unknown,
  apiKey?: string,
): Promise<any> {
  const res = await fetch(`${server.url}/api/flows/${flow}/executions`, {
    method: 'POST',
    headers: {
      'content-type': 'application/json',
      ...(apiKey ? { authorization: `Bearer ${apiKey}` } : {}),
    },
    body: JSON.stringify({ input }),
  })
  const body = await res.json()
  if (res.status !== 201) throw new Error(`start ${flow}: ${res.status} ${JSON.stringify(body)}`)
  return body
}

/** GETs JSON; returns status and body. */
export async function getJson(url: string, init?: RequestInit): Promise<{ status: number; body: any }> {
  const res = await fetch(url, init)
  return { status: res.status, body: await res.json() }
}
