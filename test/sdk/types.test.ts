/**
 * Type tests: a flow's contract reaches `stream`, `subscribe` and `result` through a type-only
 * import. tsc checks these (`npx tsc --noEmit -p .`); at run time expectTypeOf does nothing.
 */
import { describe, expectTypeOf, it } from 'vitest'
import type { createClient, ResultResponse, StreamEvent } from '../../client-sdk/index.ts'
import type { longJobFlow } from '../../flows/catalog/index.ts'
import type { testLongJob } from './fixtures.ts'

type Client = ReturnType<typeof createClient>
type LongJob = ReturnType<typeof testLongJob>
type Item = { n: number; of: number; pad: string }
type Result = { put: number; accepted: number }
declare const client: Client

/** Written as an application would; type-checked, never run. */
async function usage(c: Client): Promise<void> {
  for await (const ev of c.stream<LongJob>('id', { timeout: 1000 })) {
    expectTypeOf(ev.data).toEqualTypeOf<Item>()
    expectTypeOf(ev.seq).toEqualTypeOf<number>()
    // @ts-expect-error the contract has no such field
    ev.data.missing
  }
  c.subscribe<LongJob>('id', {
    onEvent: (ev) => expectTypeOf(ev.data.n).toEqualTypeOf<number>(),
    onEnd: (info) => expectTypeOf(info.lastSeq).toEqualTypeOf<number>(),
  })
  const r = await c.result<LongJob>('id', { wait: 1000 })
  if (r.status === 'completed') expectTypeOf(r.result).toEqualTypeOf<Result>()
  if (r.status === 'failed') expectTypeOf(r.error.code).toEqualTypeOf<string>()
  // @ts-expect-error the input contract wants a number
  await c.start<LongJob>('long-job', { count: 'many', size: 16, intervalMs: 0 })
}

/** A server's flows by name, as an application declares them (type-only). */
type Flows = { 'long-job': LongJob; catalog: ReturnType<typeof longJobFlow> }
declare const typed: ReturnType<typeof createClient<Flows>>

/** A client typed with its server's flows: names tie to inputs, streams and results. */
async function typedUsage(): Promise<void> {
  // Fields with defaults (size, intervalMs) may be left out: the input side of the schema.
  await typed.start('long-job', { count: 3 })
  await c0.start<LongJob>('long-job', { count: 3 })
  // @ts-expect-error no such flow on this server
  await typed.start('no-such-flow', {})
  // @ts-expect-error count is required
  await typed.start('long-job', { size: 20 })
  for await (const ev of typed.stream<'long-job'>('id')) expectTypeOf(ev.data).toEqualTypeOf<Item>()
  for await (const ev of typed.stream<'catalog'>('id')) expectTypeOf(ev.data.n).toEqualTypeOf<number>()
  const r = await typed.result<'long-job'>('id')
  if (r.status === 'completed') expectTypeOf(r.result).toEqualTypeOf<Result>()
}
declare const c0: Client

describe('SDK types from a flow contract', () => {
  it('createClient<typeof flows>() ties names to input (input side), stream and result types', () => {
    expectTypeOf(typedUsage).toBeFunction()
  })

  it('stream, subscribe and result carry the contract types', () => {
    expectTypeOf(usage).toBeFunction()
    expectTypeOf<ReturnType<typeof client.stream<LongJob>>>().toEqualTypeOf<
      AsyncIterable<StreamEvent<Item>>
    >()
    type Handlers = NonNullable<Parameters<typeof client.subscribe<LongJob>>[1]>
    expectTypeOf<NonNullable<Handlers['onEvent']>>().parameter(0).toEqualTypeOf<StreamEvent<Item>>()
    expectTypeOf<Awaited<ReturnType<typeof client.result<LongJob>>>>().toEqualTypeOf<ResultResponse<Result>>()
  })

  it('without a flow, data and result are unknown', () => {
    expectTypeOf<ReturnType<typeof client.stream>>().toEqualTypeOf<AsyncIterable<StreamEvent<unknown>>>()
    expectTypeOf<Awaited<ReturnType<typeof client.result>>>().toEqualTypeOf<ResultResponse<unknown>>()
  })
})
