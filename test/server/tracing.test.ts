/**
 * OpenTelemetry spans from a real server, read from an in-memory exporter that this test registers
 * as the global SDK (the server only uses @opentelemetry/api): one span per HTTP request named
 * after its route, one per execution under the request that started it, one per chunk run under
 * its execution (child flows included), each with the execution id; failures are marked ERROR.
 */
import { SpanStatusCode, trace } from '@opentelemetry/api'
import {
  BasicTracerProvider,
  InMemorySpanExporter,
  type ReadableSpan,
  SimpleSpanProcessor,
} from '@opentelemetry/sdk-trace-base'
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest'
import { FlowcastError, TriggerFlow } from '../../flows/index.ts'
import { type FlowcastServer, startServer } from '../../server/index.ts'
import { until } from '../helpers/wait.ts'

const exporter = new InMemorySpanExporter()
const provider = new BasicTracerProvider({ spanProcessors: [new SimpleSpanProcessor(exporter)] })
beforeAll(() => {
  trace.setGlobalTracerProvider(provider)
})
afterAll(async () => {
  trace.disable()
  await provider.shutdown()
})

let server: FlowcastServer | undefined
afterEach(async () => {
  await server?.close()
  server = undefined
  exporter.reset()
})

/** `two-steps` runs a, then the child flow `inner` (chunk c), then b; `fails` throws in its one chunk. */
function flows() {
  const inner = new TriggerFlow({ name: 'inner' })
  inner.to(inner.chunk('c', async () => 'c'))
  const twoSteps = new TriggerFlow({ name: 'two-steps' })
  twoSteps
    .to(twoSteps.chunk('a', async () => 'a'))
    .toSubFlow(inner)
    .to(twoSteps.chunk('b', async (data) => data.setResult('done')))
  const fails = new TriggerFlow({ name: 'fails' })
  fails.to(
    fails.chunk('boom', async () => {
      throw new FlowcastError('bad_request', 'on purpose')
    }),
  )
  return [twoSteps, fails]
}

/** Starts `flow` and waits for its result; the execution id. */
async function run(url: string, flow: string): Promise<string> {
  const res = await fetch(`${url}/api/flows/${flow}/executions`, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: '{"input":{}}',
  })
  expect(res.status).toBe(201)
  const { executionId } = (await res.json()) as { executionId: string }
  await (await fetch(`${url}/api/executions/${executionId}/result?wait=10000`)).json()
  return executionId
}

const named = (name: string) => exporter.getFinishedSpans().filter((s) => s.name === name)
const parentOf = (s: ReadableSpan) => s.parentSpanContext?.spanId

describe('tracing', () => {
  it('HTTP request, execution and chunk spans, parented and with the execution id', async () => {
    server = await startServer({ auth: 'off', flows: flows() })
    const id = await run(server.url, 'two-steps')
    await until(() => named('execution two-steps').length === 1, 5000, 'the execution span')

    const [start] = named('HTTP POST /api/flows/:name/executions')
    expect(start?.attributes).toMatchObject({
      'http.request.method': 'POST',
      'http.route': '/api/flows/:name/executions',
      'http.response.status_code': 201,
      'flowcast.execution_id': id,
    })
    const [exec] = named('execution two-steps')
    expect(parentOf(exec!)).toBe(start!.spanContext().spanId)
    expect(exec!.spanContext().traceId).toBe(start!.spanContext().traceId)
    expect(exec!.attributes).toMatchObject({ 'flowcast.execution_id': id, 'flowcast.status': 'completed' })
    expect(exec!.status.code).not.toBe(SpanStatusCode.ERROR)

    const chunks = exporter.getFinishedSpans().filter((s) => s.name.startsWith('chunk '))
    expect(chunks.map((s) => s.name).sort()).toEqual(['chunk a', 'chunk b', 'chunk c'])
    for (const c of chunks) {
      expect(parentOf(c)).toBe(exec!.spanContext().spanId)
      expect(c.attributes['flowcast.execution_id']).toBe(id)
    }
    expect(named('chunk c')[0]!.attributes['flowcast.flow']).toBe('inner')

    const [result] = named('HTTP GET /api/executions/:id/result')
    expect(result?.attributes['flowcast.execution_id']).toBe(id)
  })

  it('a failing chunk and its execution are ERROR spans with the error code', async () => {
    server = await startServer({ auth: 'off', flows: flows() })
    const id = await run(server.url, 'fails')
    await until(() => named('execution fails').length === 1, 5000, 'the execution span')
    const [exec] = named('execution fails')
    expect(exec!.status.code).toBe(SpanStatusCode.ERROR)
    expect(exec!.attributes).toMatchObject({ 'flowcast.execution_id': id, 'flowcast.status': 'failed' })
    const [boom] = named('chunk boom')
    expect(boom!.status.code).toBe(SpanStatusCode.ERROR)
    expect(boom!.status.message).toMatch(/on purpose/)
  })

  it('a refused request is a span with its status; an unknown route has no route name', async () => {
    server = await startServer({ auth: 'off', flows: flows() })
    expect(
      (await fetch(`${server.url}/api/flows/nope/executions`, { method: 'POST', body: '{}' })).status,
    ).toBe(404)
    await until(() => named('HTTP POST /api/flows/:name/executions').length === 1, 5000, 'the request span')
    expect(named('HTTP POST /api/flows/:name/executions')[0]!.attributes['http.response.status_code']).toBe(
      404,
    )
    await fetch(`${server.url}/no/such/route`)
    await until(() => named('HTTP GET').length === 1, 5000, 'the unrouted span')
  })

  it('an SDK registered after the server started traces what begins after it, and nothing before', async () => {
    trace.disable()
    try {
      server = await startServer({ auth: 'off', flows: flows() })
      await run(server.url, 'two-steps')
    } finally {
      trace.setGlobalTracerProvider(provider)
    }
    // Untraced, the server makes no spans at all (not even no-op ones): nothing was exported.
    expect(exporter.getFinishedSpans()).toEqual([])
    const id = await run(server.url, 'two-steps')
    await until(() => named('execution two-steps').length === 1, 5000, 'the execution span')
    expect(named('execution two-steps')[0]!.attributes['flowcast.execution_id']).toBe(id)
    expect(named('chunk a')).toHaveLength(1)
    expect(named('HTTP POST /api/flows/:name/executions')).toHaveLength(1)
  })
})
