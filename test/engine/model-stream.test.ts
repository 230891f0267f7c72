/**
 * Real model streams through the real `ai` and `@ai-sdk/openai-compatible` packages against a
 * local OpenAI-compatible server (test/helpers/fake-openai.ts): watchers see the nodes in order
 * and each complete section's event once; usage and finish reason reach the result; cancel
 * closes the HTTP request; a stopped stream does not stop the model; each provider failure ends
 * as documented, with or without retries.
 */
import { afterEach, beforeEach, describe, expect, it } from 'vitest'
import { modelOutlineFlow, outlineSchema } from '../../flows/catalog/model-outline.ts'
import { FlowcastError, InstantJsonParser, type InstantNode, TriggerFlow } from '../../flows/index.ts'
import { streamTextNodes } from '../../flows/instant/ai-sdk.ts'
import { type FakeOpenAI, startFakeOpenAI } from '../helpers/fake-openai.ts'
import { until, waitFor } from '../helpers/wait.ts'
import { drain } from './util.ts'

// The SDK prints a warning line per unsupported setting; the fake server is not worth the noise.
;(globalThis as { AI_SDK_LOG_WARNINGS?: boolean }).AI_SDK_LOG_WARNINGS = false

const OUTLINE = {
  title: 'Rooms: a field guide — é ✓',
  sections: [
    { heading: 'Overview', bullets: ['one "quoted" point', 'two\npoints'] },
    { heading: 'How it works', bullets: ['fan-out', 'replay', 'gap'] },
    { heading: 'Trade-offs', bullets: ['memory'] },
  ],
}
const TEXT = JSON.stringify(OUTLINE, null, 1)
const DELTAS = [1, 4, 2, 6, 3]
const INPUT = { topic: 'rooms', sections: 3, bullets: 3, tokenDelayMs: 0 }

type Item = { type: string; [k: string]: unknown }

let fake: FakeOpenAI
beforeEach(async () => {
  fake = await startFakeOpenAI()
})
afterEach(async () => {
  await fake.close()
})

function flow(retry?: { attempts: number; initialDelayMs?: number }) {
  return modelOutlineFlow({
    model: { baseURL: fake.baseURL, model: 'fake-model', apiKey: 'test-key' },
    retry: retry ?? { attempts: 1 },
  })
}

/** The node items the parser gives for `text` arriving in deltas of DELTAS (cycled), root left out. */
function expectedNodes(text: string, attempt = 1): Item[] {
  const parser = new InstantJsonParser()
  const nodes: InstantNode[] = []
  for (let i = 0, d = 0; i < text.length; d++) {
    const n = DELTAS[d % DELTAS.length]!
    nodes.push(...parser.push(text.slice(i, i + n)))
    i += n
  }
  nodes.push(...parser.end().nodes)
  return nodes.filter((n) => n.path.length > 0).map((n) => ({ type: 'node', ...n, attempt }))
}

const nodesOf = (items: Item[]) => items.filter((i) => i.type === 'node')
const errorOf = (ex: { getError(): unknown }) => ex.getError() as FlowcastError

/** Starts the flow on an answer the fake server holds after five deltas until `open()`. */
async function startHeldAfterFive() {
  let open!: () => void
  fake.reply({ kind: 'stream', text: TEXT, after: 5, gate: new Promise<void>((r) => (open = r)) })
  const ex = flow().createExecution({ autoCloseTimeout: 0 })
  await ex.start(INPUT)
  await until(() => fake.requests[0]?.sent === 5 && ex.runtimeStream.lastSeq > 0, 10_000, 'five deltas put')
  return { ex, open }
}

describe('model-outline with a real model (OpenAI-compatible, through the AI SDK)', () => {
  it('streams the nodes in order to every watcher, fires each section event once, and puts usage and finish reason in the result', async () => {
    fake.reply({
      kind: 'stream',
      text: TEXT,
      deltas: DELTAS,
      usage: { prompt_tokens: 40, completion_tokens: 90 },
    })
    const ex = flow().createExecution({ autoCloseTimeout: 0 })
    const watchers = [drain(ex.getRuntimeStream(INPUT, { timeout: null }))]
    watchers.push(drain(ex.getRuntimeStream(undefined, { timeout: null })))
    const [a, b] = (await Promise.all(watchers)) as unknown as [Item[], Item[]]
    expect(b).toStrictEqual(a)
    expect(nodesOf(a)).toStrictEqual(expectedNodes(TEXT))

    // One section item per complete section, right after the node that completed it.
    const sections = a.flatMap((item, i) => (item.type === 'section' ? [[i, item] as const] : []))
    expect(sections.map(([, s]) => s)).toStrictEqual(
      OUTLINE.sections.map((s, index) => ({
        type: 'section',
        index,
        heading: s.heading,
        bullets: s.bullets.length,
        attempt: 1,
      })),
    )
    for (const [i, s] of sections)
      expect(a[i - 1]).toMatchObject({ type: 'node', path: ['sections', s.index], isComplete: true })

    expect(await ex.getResult({ timeout: 5000 })).toStrictEqual({
      outline: OUTLINE,
      model: 'fake-model',
      finishReason: 'stop',
      usage: { inputTokens: 40, outputTokens: 90, totalTokens: 130 },
      attempts: 1,
    })
    const [req] = fake.requests
    expect(req!.body.stream).toBe(true)
    expect(req!.body.stream_options).toStrictEqual({ include_usage: true })
    expect(req!.body.model).toBe('fake-model')
    expect(req!.headers.authorization).toBe('Bearer test-key')
  })

  it('cancelling the execution aborts the HTTP request: the server sees the connection close mid-answer', async () => {
    const { ex, open } = await startHeldAfterFive()
    ex.cancel('enough')
    expect(await waitFor(fake.requests[0]!.closed, 5000, 'the request to close')).toStrictEqual({
      finished: false,
    })
    await expect(ex.getResult()).rejects.toSatisfy((e) => (e as FlowcastError).code === 'execution_cancelled')
    open()
  })

  it('an admin stop of the runtime stream does not stop the model or the flow', async () => {
    const { ex, open } = await startHeldAfterFive()
    ex.stopStream('admin')
    const at = ex.runtimeStream.lastSeq
    open()
    expect(await ex.getResult({ timeout: 10_000 })).toMatchObject({ outline: OUTLINE, finishReason: 'stop' })
    expect(await fake.requests[0]!.closed).toStrictEqual({ finished: true })
    expect(ex.runtimeStream.lastSeq).toBe(at)
  })

  it.each([429, 500, 503])('HTTP %i fails the chunk with model_error carrying the status', async (status) => {
    fake.reply({ kind: 'status', status })
    const ex = flow().createExecution({ autoCloseTimeout: 0 })
    await ex.start(INPUT)
    await expect(ex.getResult()).rejects.toSatisfy((e) => (e as FlowcastError).code === 'execution_failed')
    expect(errorOf(ex).code).toBe('model_error')
    expect(errorOf(ex).details).toStrictEqual({ kind: 'http', status, attempt: 1, retryable: true })
    expect(errorOf(ex).message).toContain(`HTTP ${status}`)
    expect(fake.requests).toHaveLength(1)
  })

  it('a 400 is not retried even when the flow asks for retries', async () => {
    fake.reply({ kind: 'status', status: 400 }, { kind: 'stream', text: TEXT })
    const ex = flow({ attempts: 3, initialDelayMs: 1 }).createExecution({ autoCloseTimeout: 0 })
    await ex.start(INPUT)
    await expect(ex.getResult()).rejects.toBeInstanceOf(FlowcastError)
    expect(errorOf(ex).details).toMatchObject({ kind: 'http', status: 400, retryable: false })
    expect(fake.requests).toHaveLength(1)
  })

  it('retries a 429 and a 500 with backoff when asked (retry-after honoured), the retry announced in the stream', async () => {
    fake.reply(
      { kind: 'status', status: 429, retryAfter: 0 },
      { kind: 'status', status: 500 },
      { kind: 'stream', text: TEXT, deltas: DELTAS },
    )
    const ex = flow({ attempts: 3, initialDelayMs: 1 }).createExecution({ autoCloseTimeout: 0 })
    const items = (await drain(ex.getRuntimeStream(INPUT, { timeout: null }))) as Item[]
    expect(await ex.getResult()).toMatchObject({ outline: OUTLINE, attempts: 3 })
    expect(
      items.filter((i) => i.type === 'model_retry').map((i) => [i.attempt, (i.error as FlowcastError).code]),
    ).toStrictEqual([
      [2, 'model_error'],
      [3, 'model_error'],
    ])
    expect(nodesOf(items)).toStrictEqual(expectedNodes(TEXT, 3))
    expect(fake.requests).toHaveLength(3)
  })

  it('a connection dropped mid-answer fails with model_error kind connection; the nodes already put stay', async () => {
    fake.reply({ kind: 'stream', text: TEXT, deltas: DELTAS, after: 12, fault: 'drop' })
    const ex = flow().createExecution({ autoCloseTimeout: 0 })
    await ex.start(INPUT)
    await expect(ex.getResult()).rejects.toBeInstanceOf(FlowcastError)
    const items = ex.runtimeStream.read(0, 10_000).entries.map((e) => e.envelope.data) as Item[]
    expect(errorOf(ex).code).toBe('model_error')
    expect(errorOf(ex).details).toStrictEqual({
      kind: 'connection',
      status: 200,
      attempt: 1,
      retryable: true,
    })
    const sent = DELTAS.concat(DELTAS, DELTAS)
      .slice(0, 12)
      .reduce((x, y) => x + y, 0)
    const put = nodesOf(items)
    expect(put.length).toBeGreaterThan(0)
    expect(put).toStrictEqual(expectedNodes(TEXT).slice(0, put.length))
    expect(put.every((n) => n.attempt === 1)).toBe(true)
    expect(ex.runtimeStream.streamClose?.reason).toBe('failed')
    expect(sent).toBeLessThan(TEXT.length)
  })

  it('retries a dropped connection: the first attempt nodes stay, the retry nodes carry attempt 2', async () => {
    fake.reply(
      { kind: 'stream', text: TEXT, deltas: DELTAS, after: 12, fault: 'drop' },
      { kind: 'stream', text: TEXT, deltas: DELTAS },
    )
    const ex = flow({ attempts: 2, initialDelayMs: 1 }).createExecution({ autoCloseTimeout: 0 })
    const items = (await drain(ex.getRuntimeStream(INPUT, { timeout: null }))) as Item[]
    expect(await ex.getResult()).toMatchObject({ outline: OUTLINE, attempts: 2 })
    const retryAt = items.findIndex((i) => i.type === 'model_retry')
    const before = nodesOf(items.slice(0, retryAt))
    const after = nodesOf(items.slice(retryAt))
    expect(before.length).toBeGreaterThan(0)
    expect(before).toStrictEqual(expectedNodes(TEXT).slice(0, before.length))
    expect(after).toStrictEqual(expectedNodes(TEXT, 2))
    expect(items[retryAt]).toMatchObject({ type: 'model_retry', attempt: 2 })
  })

  it('a malformed chunk fails with model_error kind malformed and ends the request', async () => {
    let open!: () => void
    fake.reply({
      kind: 'stream',
      text: TEXT,
      after: 4,
      fault: 'malformed',
      gate: new Promise<void>((r) => (open = r)),
    })
    const ex = flow().createExecution({ autoCloseTimeout: 0 })
    await ex.start(INPUT)
    await expect(ex.getResult()).rejects.toBeInstanceOf(FlowcastError)
    expect(errorOf(ex).details).toMatchObject({ kind: 'malformed', attempt: 1, retryable: true })
    // The server still holds the rest back: the bridge closed the request.
    expect(await waitFor(fake.requests[0]!.closed, 5000, 'the request to close')).toStrictEqual({
      finished: false,
    })
    open()
  })

  it('an error the provider sends inside the stream fails with model_error kind provider, not retried', async () => {
    fake.reply(
      { kind: 'stream', text: TEXT, after: 3, fault: 'error-payload' },
      { kind: 'stream', text: TEXT },
    )
    const ex = flow({ attempts: 3, initialDelayMs: 1 }).createExecution({ autoCloseTimeout: 0 })
    await ex.start(INPUT)
    await expect(ex.getResult()).rejects.toBeInstanceOf(FlowcastError)
    expect(errorOf(ex).details).toStrictEqual({ kind: 'provider', attempt: 1, retryable: false })
    expect(errorOf(ex).message).toContain('model overloaded')
    expect(fake.requests).toHaveLength(1)
  })

  it('text that cannot be JSON fails with invalid_json at its position in the model text, and ends the request', async () => {
    const bad = '{"title": "x", "sections": [,]}'
    fake.reply({ kind: 'stream', text: bad })
    const ex = flow({ attempts: 3, initialDelayMs: 1 }).createExecution({ autoCloseTimeout: 0 })
    await ex.start(INPUT)
    await expect(ex.getResult()).rejects.toBeInstanceOf(FlowcastError)
    expect(errorOf(ex).code).toBe('invalid_json')
    expect(errorOf(ex).details).toStrictEqual({ position: bad.indexOf(',]') })
    expect(fake.requests).toHaveLength(1)
  })

  it('an answer that is JSON but not an outline fails with model_error kind schema', async () => {
    fake.reply({ kind: 'stream', text: '{"title": "x", "sections": [{"heading": 1, "bullets": []}]}' })
    const ex = flow().createExecution({ autoCloseTimeout: 0 })
    await ex.start(INPUT)
    await expect(ex.getResult()).rejects.toBeInstanceOf(FlowcastError)
    expect(errorOf(ex).details).toMatchObject({ kind: 'schema', attempt: 1, retryable: false })
    expect(errorOf(ex).message).toContain('sections.0.heading')
  })
})

describe('streamTextNodes', () => {
  it('runs streamText with any AI SDK model and returns the parsed answer with usage', async () => {
    const { createOpenAICompatible } = await import('@ai-sdk/openai-compatible')
    const model = createOpenAICompatible({ name: 'fake', baseURL: fake.baseURL, includeUsage: true })(
      'fake-model',
    )
    const f = new TriggerFlow({ name: 'text-nodes' })
    f.to(
      f.chunk('ask', (data) =>
        streamTextNodes(data, { model, prompt: 'outline please' }, { schema: outlineSchema }),
      ),
    ).end()
    fake.reply({ kind: 'stream', text: TEXT, deltas: DELTAS })
    const ex = f.createExecution({ autoCloseTimeout: 0 })
    const items = (await drain(ex.getRuntimeStream(undefined, { timeout: null }))) as Item[]
    expect(items).toStrictEqual(expectedNodes(TEXT))
    expect(await ex.getResult()).toStrictEqual({
      value: OUTLINE,
      finishReason: 'stop',
      usage: { inputTokens: 11, outputTokens: 22, totalTokens: 33 },
      attempts: 1,
    })
    expect(fake.requests[0]!.body.messages).toStrictEqual([{ role: 'user', content: 'outline please' }])
  })
})

describe('model-outline with the simulated model', () => {
  it('streams the same kind of nodes, and reports a simulated usage', async () => {
    const ex = modelOutlineFlow({ model: null }).createExecution({ autoCloseTimeout: 0 })
    const items = (await drain(ex.getRuntimeStream({ ...INPUT, sections: 2 }, { timeout: null }))) as Item[]
    const result = (await ex.getResult()) as {
      outline: typeof OUTLINE
      usage: { outputTokens: number }
      model: string
    }
    expect(result.model).toBe('simulated')
    expect(result.outline.sections).toHaveLength(2)
    expect(items.filter((i) => i.type === 'section')).toHaveLength(2)
    expect(result.usage.outputTokens).toBeGreaterThan(10)
    expect(fake.requests).toHaveLength(0)
  })
})
