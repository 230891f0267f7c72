import { describe, expect, expectTypeOf, it } from 'vitest'
import { z } from 'zod'
import { FlowcastError, type FlowTypes, TriggerFlow } from '../../flows/index.ts'
import { closeWhenIdle, drain } from './util.ts'

const contract = {
  input: z.object({ topic: z.string(), count: z.number().int().min(1) }),
  stream: z.discriminatedUnion('kind', [
    z.object({ kind: z.literal('progress'), meta: z.object({ done: z.number() }) }),
    z.object({ kind: z.literal('note'), text: z.string() }),
  ]),
  result: z.object({ summary: z.string() }),
}

function typedFlow() {
  const flow = new TriggerFlow({ name: 'typed', contract })
  const work = flow.chunk('work', async (data) => {
    expectTypeOf(data.input).toEqualTypeOf<{ topic: string; count: number }>()
    expectTypeOf(data.putIntoStream)
      .parameter(0)
      .toEqualTypeOf<{ kind: 'progress'; meta: { done: number } } | { kind: 'note'; text: string }>()
    expectTypeOf(data.setResult).parameter(0).toEqualTypeOf<{ summary: string }>()
    for (let i = 1; i <= data.input.count; i++)
      await data.putIntoStream({ kind: 'progress', meta: { done: i } })
    if (data.input.topic === 'bad-item') {
      // @ts-expect-error: the stream contract forbids this item; the runtime check must refuse it too.
      await data.putIntoStream({ kind: 'progress', meta: { done: 'lots' } })
    }
    if (data.input.topic === 'bad-result') return { summary: 42 }
    return { summary: `${data.input.topic} x${data.input.count}` }
  })
  flow.to(work).end()
  return flow
}

describe('14. contracts', () => {
  it('infers the types of input, stream items and result from the schemas', () => {
    const flow = typedFlow()
    const ex = flow.createExecution(closeWhenIdle)
    expectTypeOf(ex.start).parameter(0).toEqualTypeOf<{ topic: string; count: number } | undefined>()
    expectTypeOf(ex.getResult).returns.toEqualTypeOf<Promise<{ summary: string }>>()
    expectTypeOf(ex.getRuntimeStream).returns.toEqualTypeOf<
      AsyncGenerator<
        { kind: 'progress'; meta: { done: number } } | { kind: 'note'; text: string },
        void,
        undefined
      >
    >()
    type T = FlowTypes<typeof flow>
    expectTypeOf<T['input']>().toEqualTypeOf<{ topic: string; count: number }>()
    expectTypeOf<T['result']>().toEqualTypeOf<{ summary: string }>()
    expectTypeOf<Extract<T['stream'], { kind: 'note' }>['text']>().toEqualTypeOf<string>()
    // Without a contract everything is unknown, not any.
    const loose = new TriggerFlow({ name: 'loose' }).createExecution(closeWhenIdle)
    expectTypeOf(loose.getResult).returns.toEqualTypeOf<Promise<unknown>>()
  })

  it('passes valid input, items and result through', async () => {
    const ex = typedFlow().createExecution(closeWhenIdle)
    const items = await drain(ex.getRuntimeStream({ topic: 'ok', count: 2 }, { timeout: null }))
    expect(items).toStrictEqual([
      { kind: 'progress', meta: { done: 1 } },
      { kind: 'progress', meta: { done: 2 } },
    ])
    expect(await ex.getResult({ timeout: 1000 })).toStrictEqual({ summary: 'ok x2' })
  })

  it('rejects a stream item that fails its schema, naming the flow and the failing path', async () => {
    const flow = new TriggerFlow({ name: 'picky', contract: { stream: contract.stream } })
    let rejection: unknown
    flow
      .to(async (data) => {
        await data.putIntoStream({ kind: 'note', text: 'fine' })
        rejection = await data.putIntoStream({ kind: 'progress', meta: { done: 'lots' } } as never).then(
          () => 'accepted',
          (e: unknown) => e,
        )
        await data.putIntoStream({ kind: 'note', text: 'still open' })
      })
      .end()
    const ex = flow.createExecution(closeWhenIdle)
    const items = await drain(ex.getRuntimeStream(undefined, { timeout: null }))
    expect(rejection).toBeInstanceOf(FlowcastError)
    expect((rejection as FlowcastError).code).toBe('contract_violation')
    expect((rejection as FlowcastError).message).toContain('"picky"')
    expect((rejection as FlowcastError).message).toContain('meta.done')
    // The bad item left no trace and no hole.
    expect(items).toStrictEqual([
      { kind: 'note', text: 'fine' },
      { kind: 'note', text: 'still open' },
    ])
    expect(ex.runtimeStream.lastSeq).toBe(2)
  })

  it('an unhandled contract violation fails the execution with that error as cause', async () => {
    const ex = typedFlow().createExecution(closeWhenIdle)
    await ex.start({ topic: 'bad-item', count: 1 })
    const err = await ex.getResult().catch((e: unknown) => e)
    expect((err as FlowcastError).code).toBe('execution_failed')
    expect(((err as FlowcastError).cause as FlowcastError).code).toBe('contract_violation')
  })

  it('refuses invalid input at start and an invalid result at the end', async () => {
    const ex = typedFlow().createExecution(closeWhenIdle)
    const bad = await ex.start({ topic: 'x', count: 0 }).catch((e: unknown) => e)
    expect((bad as FlowcastError).code).toBe('invalid_input')
    expect((bad as FlowcastError).message).toMatch(/"typed".*count/)

    const ex2 = typedFlow().createExecution(closeWhenIdle)
    await ex2.start({ topic: 'bad-result', count: 1 })
    const err = await ex2.getResult().catch((e: unknown) => e)
    expect((err as FlowcastError).code).toBe('execution_failed')
    expect(((err as FlowcastError).cause as FlowcastError).code).toBe('invalid_result')
    expect(((err as FlowcastError).cause as FlowcastError).message).toContain('summary')
  })
})
