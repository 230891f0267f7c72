import { describe, expect, it, vi } from 'vitest'
import {
  approvalFlow,
  catalogFlows,
  instantFlow,
  longJobFlow,
  nestedFlow,
  streamStepsFlow,
} from '../../flows/catalog/index.ts'
import { simulatedOutline } from '../../flows/catalog/simulated-model.ts'
import { FlowcastError } from '../../flows/index.ts'
import { until, waitFor } from '../helpers/wait.ts'
import { closeWhenIdle, drain } from './util.ts'

function codeOf(err: unknown): string | undefined {
  return err instanceof FlowcastError ? err.code : undefined
}

describe('catalogFlows', () => {
  it('returns a fresh instance of each shipped flow', () => {
    const a = catalogFlows()
    const b = catalogFlows()
    expect(a.map((f) => f.name)).toStrictEqual([
      'stream-steps',
      'nested',
      'instant',
      'long-job',
      'approval',
      'model-outline',
    ])
    a.forEach((flow, i) => {
      expect(flow).not.toBe(b[i])
    })
  })

  it('gives each flow a description and an example input its own input contract accepts', () => {
    for (const flow of catalogFlows()) {
      expect({ flow: flow.name, description: typeof flow.description }).toEqual({
        flow: flow.name,
        description: 'string',
      })
      expect(flow.exampleInput).toBeDefined()
      if (flow.contract.input) {
        const parsed = flow.contract.input.safeParse(flow.exampleInput)
        expect({ flow: flow.name, ok: parsed.success }).toEqual({ flow: flow.name, ok: true })
      }
    }
  })
})

describe('stream-steps', () => {
  it('streams two steps, stops the stream and returns done', async () => {
    const ex = streamStepsFlow().createExecution(closeWhenIdle)
    expect(await drain(ex.getRuntimeStream('start', { timeout: null }))).toStrictEqual([
      { step: 1 },
      { step: 2 },
    ])
    expect(await ex.getResult({ timeout: 5000 })).toBe('done')
    expect(ex.getStatus()).toBe('completed')
    expect(ex.runtimeStream.streamClose).toMatchObject({ reason: 'stopped', by: 'flow' })
  })
})

describe('nested', () => {
  it("bridges the child's items between the parent's, named by source, and returns the child's result", async () => {
    const ex = nestedFlow().createExecution(closeWhenIdle)
    const events = await drain(ex.getRuntimeStreamEvents({ steps: 2 }, { timeout: null }))
    expect(events.map((e) => ('seq' in e ? [e.seq, e.source ?? null, e.data] : e))).toStrictEqual([
      [1, null, { stage: 'parent', message: 'starting a child with 2 steps' }],
      [2, 'nested-child', { stage: 'child', step: 1, of: 2 }],
      [3, 'nested-child', { stage: 'child', step: 2, of: 2 }],
      [4, null, { stage: 'parent', message: 'child finished after 2 steps' }],
    ])
    expect(await ex.getResult({ timeout: 1000 })).toStrictEqual({
      child: { childSteps: 2 },
      message: 'child finished after 2 steps',
    })
    // The child stopped its own stream; the parent's closed only when the parent completed.
    expect(ex.runtimeStream.streamClose?.reason).toBe('completed')
  })

  it('runs with its default input', async () => {
    const ex = nestedFlow().createExecution(closeWhenIdle)
    await ex.start(undefined)
    expect(await ex.getResult({ timeout: 1000 })).toMatchObject({ child: { childSteps: 3 } })
  })
})

describe('instant', () => {
  type Path = (string | number)[]
  type Item =
    | { type: 'node'; path: Path; value: unknown; delta?: string; isComplete: boolean; attempt: number }
    | { type: 'summary'; path: Path; text: string }
  const key = (path: Path) => JSON.stringify(path)

  async function run(input: { topic: string; sections: number; tokenDelayMs: number }) {
    const ex = instantFlow().createExecution(closeWhenIdle)
    const items = (await drain(ex.getRuntimeStream(input, { timeout: null }))) as Item[]
    return { items, result: await ex.getResult({ timeout: 1000 }) }
  }

  it('parses the token stream into nodes, and summarises each complete title and section exactly once', async () => {
    const input = { topic: 'rooms', sections: 3, tokenDelayMs: 0 }
    const { items, result } = await run(input)
    const outline = simulatedOutline('rooms', 3)
    expect(result).toStrictEqual(outline)

    // Progress: every partial value of a node is a growing prefix of its final value.
    const finals = new Map<string, unknown>()
    for (const item of items)
      if (item.type === 'node' && item.isComplete) finals.set(key(item.path), item.value)
    const partials = items.filter((i) => i.type === 'node' && !i.isComplete) as Extract<
      Item,
      { type: 'node' }
    >[]
    expect(partials.length).toBeGreaterThan(10)
    for (const p of partials) {
      expect(typeof p.value).toBe('string')
      expect((finals.get(key(p.path)) as string).startsWith(p.value as string)).toBe(true)
      expect(p.attempt).toBe(1)
    }
    expect(finals.get(key(['title']))).toBe(outline.title)
    expect(finals.get(key(['sections', 2]))).toStrictEqual(outline.sections[2])
    expect(finals.get(key(['sections', 2, 'heading']))).toBe(outline.sections[2]!.heading)
    // The root is the result, not a stream item.
    expect(finals.has(key([]))).toBe(false)

    // Business events only for complete nodes, each handled right after the node that caused it.
    const summaries = items.flatMap((item, i) => (item.type === 'summary' ? [[i, item] as const] : []))
    expect(summaries.map(([, s]) => s.path)).toStrictEqual([
      ['title'],
      ['sections', 0],
      ['sections', 1],
      ['sections', 2],
    ])
    for (const [i, s] of summaries)
      expect(items[i - 1]).toMatchObject({ type: 'node', path: s.path, isComplete: true })
    expect(summaries[1]![1].text).toBe(`Overview (${outline.sections[0]!.body.split(' ').length} words)`)
  })

  it('is deterministic: the same input gives the same items', async () => {
    const input = { topic: 'determinism', sections: 2, tokenDelayMs: 0 }
    const first = await run(input)
    const second = await run(input)
    expect(second.items).toStrictEqual(first.items)
  })

  it('stops reading the model when cancelled', async () => {
    const ex = instantFlow().createExecution(closeWhenIdle)
    await ex.start({ topic: 'slow', sections: 8, tokenDelayMs: 5 })
    await until(() => ex.runtimeStream.lastSeq >= 3)
    ex.cancel('enough')
    const at = ex.runtimeStream.lastSeq
    await expect(ex.getResult()).rejects.toSatisfy((e) => codeOf(e) === 'execution_cancelled')
    expect(ex.runtimeStream.lastSeq).toBe(at)
  })
})

describe('long-job', () => {
  it('puts count items of about size bytes with n = 1..count', async () => {
    const ex = longJobFlow().createExecution(closeWhenIdle)
    const events = await drain(
      ex.getRuntimeStreamEvents({ count: 300, size: 500, intervalMs: 0 }, { timeout: null }),
    )
    const seqs = events.map((e) => ('seq' in e ? e.seq : -1))
    expect(seqs).toStrictEqual(Array.from({ length: 300 }, (_, i) => i + 1))
    for (const e of events) {
      if (!('seq' in e)) continue
      expect(e.data.n).toBe(e.seq)
      expect(e.data.of).toBe(300)
      expect(JSON.stringify(e.data).length).toBeGreaterThanOrEqual(490)
      expect(JSON.stringify(e.data).length).toBeLessThanOrEqual(510)
    }
    expect(await ex.getResult({ timeout: 1000 })).toStrictEqual({ put: 300, accepted: 300 })
  })

  it('yields to the event loop while running flat out', async () => {
    const ex = longJobFlow().createExecution(closeWhenIdle)
    let seqWhenTimerRan = -1
    await ex.start({ count: 20_000, size: 32, intervalMs: 0 })
    setTimeout(() => {
      seqWhenTimerRan = ex.runtimeStream.lastSeq
    }, 0)
    await ex.getResult({ timeout: 10_000 })
    expect(seqWhenTimerRan).toBeGreaterThan(0)
    expect(seqWhenTimerRan).toBeLessThan(20_000)
  })

  it('paces bursts by intervalMs and counts items an admin stop dropped', async () => {
    const ex = longJobFlow().createExecution(closeWhenIdle)
    const started = Date.now()
    await ex.start({ count: 6, size: 32, intervalMs: 30, burst: 2 })
    await until(() => ex.runtimeStream.lastSeq === 4)
    ex.stopStream('admin')
    expect(await ex.getResult({ timeout: 2000 })).toStrictEqual({ put: 6, accepted: 4 })
    // Three bursts, two pauses between them.
    expect(Date.now() - started).toBeGreaterThanOrEqual(55)
  })

  it('listens for abort once per run, not once per pause, and lets go of the signal at the end', async () => {
    const added = vi.spyOn(EventTarget.prototype, 'addEventListener')
    const removed = vi.spyOn(EventTarget.prototype, 'removeEventListener')
    try {
      const ex = longJobFlow().createExecution(closeWhenIdle)
      await ex.start({ count: 8, size: 32, intervalMs: 1 })
      expect(await ex.getResult({ timeout: 2000 })).toStrictEqual({ put: 8, accepted: 8 })
      const aborts = (spy: typeof added) => spy.mock.calls.filter(([type]) => type === 'abort').length
      // Seven pauses between eight items (one listener added per pause before, issue 18).
      expect(aborts(added)).toBe(1)
      expect(aborts(removed)).toBe(1)
    } finally {
      added.mockRestore()
      removed.mockRestore()
    }
  })

  it('stops promptly when cancelled mid-interval', async () => {
    const ex = longJobFlow().createExecution(closeWhenIdle)
    await ex.start({ count: 10, size: 32, intervalMs: 60_000 })
    await until(() => ex.runtimeStream.lastSeq === 1)
    ex.cancel()
    await expect(waitFor(ex.getResult(), 1000)).rejects.toSatisfy((e) => codeOf(e) === 'execution_cancelled')
  })

  it.each([
    [{ count: 0, size: 64, intervalMs: 0 }, 'count'],
    [{ count: 2_000_000, size: 64, intervalMs: 0 }, 'count'],
    [{ count: 10, size: 10_000_000, intervalMs: 0 }, 'size'],
    [{ count: 10, size: 64, intervalMs: -1 }, 'intervalMs'],
    [{ count: 10, size: 64, intervalMs: 0, burst: 0 }, 'burst'],
  ])('refuses out-of-bounds input %j', async (input, path) => {
    const err = await longJobFlow()
      .createExecution(closeWhenIdle)
      .start(input)
      .catch((e: unknown) => e)
    expect(codeOf(err)).toBe('invalid_input')
    expect((err as Error).message).toContain(path)
  })
})

describe('approval', () => {
  it('pauses for an approval interrupt and finishes with the answer', async () => {
    const ex = approvalFlow().createExecution(closeWhenIdle)
    const items = drain(ex.getRuntimeStream({ request: 'deploy v2', amount: 3 }, { timeout: null }))
    await until(() => ex.getStatus() === 'waiting')
    const [pending] = ex.getPendingInterrupts()
    expect(pending).toMatchObject({ type: 'approval', payload: { request: 'deploy v2', amount: 3 } })

    // A malformed answer is refused and the interrupt keeps waiting.
    await expect(ex.continueWith(pending!.id, { approved: 'sure' })).rejects.toSatisfy(
      (e) => codeOf(e) === 'invalid_input',
    )
    expect(ex.getStatus()).toBe('waiting')

    await ex.continueWith(pending!.id, { approved: true, note: 'ship it' })
    expect(await ex.getResult({ timeout: 1000 })).toStrictEqual({
      request: 'deploy v2',
      approved: true,
      note: 'ship it',
      status: 'approved',
    })
    const all = (await items) as { type: string; action?: string }[]
    expect(all.map((i) => (i.type === 'interrupt' ? `interrupt:${i.action}` : i.type))).toStrictEqual([
      'request',
      'interrupt:pause',
      'interrupt:resume',
      'decision',
    ])
    expect(all[3]).toStrictEqual({ type: 'decision', approved: true, note: 'ship it' })
  })

  it('takes a bare boolean as the answer', async () => {
    const ex = approvalFlow().createExecution(closeWhenIdle)
    await ex.start({ request: 'buy coffee' })
    await until(() => ex.getStatus() === 'waiting')
    await ex.continueWith(ex.getPendingInterrupts()[0]!.id, false)
    expect(await ex.getResult({ timeout: 1000 })).toStrictEqual({
      request: 'buy coffee',
      approved: false,
      status: 'rejected',
    })
  })
})
