import { describe, expect, it } from 'vitest'
import { FlowcastError, type LogEntry, RuntimeStreamLog, TriggerFlow } from '../../flows/index.ts'
import { until, waitFor } from '../helpers/wait.ts'
import { closeWhenIdle, drain, gate } from './util.ts'

describe('1. items arrive exactly as put, in put order; the first read starts the execution', () => {
  it('yields the raw items and passes the start input as data.input', async () => {
    const flow = new TriggerFlow({ name: 'raw-items' })
    const seenInputs: unknown[] = []
    flow
      .to(async (data) => {
        seenInputs.push(data.input)
        for (const item of [{ a: 1 }, 'two', 3, null, [4, { five: 5 }], false]) await data.putIntoStream(item)
        return 'ok'
      })
      .end()
    const ex = flow.createExecution(closeWhenIdle)
    expect(ex.getStatus()).toBe('created')
    const items = await drain(ex.getRuntimeStream({ topic: 'x' }, { timeout: null }))
    expect(items).toStrictEqual([{ a: 1 }, 'two', 3, null, [4, { five: 5 }], false])
    expect(seenInputs).toStrictEqual([{ topic: 'x' }])
    expect(ex.input).toStrictEqual({ topic: 'x' })

    // On a started execution the argument is ignored: no restart, no new input.
    const again = await drain(ex.getRuntimeStream('ignored', { timeout: null }))
    expect(again).toStrictEqual(items)
    expect(seenInputs).toStrictEqual([{ topic: 'x' }])
    expect(await ex.getResult({ timeout: 1000 })).toBe('ok')
  })

  it('does not start before the first iteration', async () => {
    const flow = new TriggerFlow({ name: 'lazy' })
    flow.to(async (data) => data.putIntoStream('x')).end()
    const ex = flow.createExecution(closeWhenIdle)
    const iter = ex.getRuntimeStream('in', { timeout: null })
    expect(ex.started).toBe(false)
    const first = await iter[Symbol.asyncIterator]().next()
    expect(first).toStrictEqual({ value: 'x', done: false })
    expect(ex.started).toBe(true)
  })
})

describe('2. every consumer has its own cursor from the earliest retained item', () => {
  it('concurrent consumers each see every item, and a late one after close sees the same', async () => {
    const flow = new TriggerFlow({ name: 'cursors' })
    const step = gate()
    flow
      .to(async (data) => {
        for (let i = 1; i <= 5; i++) await data.putIntoStream(i)
        await step.promise
        for (let i = 6; i <= 10; i++) await data.putIntoStream(i)
        await data.stopStream()
      })
      .end()
    const ex = flow.createExecution(closeWhenIdle)
    const a = drain(ex.getRuntimeStream(undefined, { timeout: null }))
    const b = drain(ex.getRuntimeStream(undefined, { timeout: null }))
    await until(() => ex.runtimeStream.lastSeq === 5)
    // Joined in the middle: still starts at item 1, not at the live head.
    const c = drain(ex.getRuntimeStream(undefined, { timeout: null }))
    step.open()
    const all = [1, 2, 3, 4, 5, 6, 7, 8, 9, 10]
    expect(await a).toStrictEqual(all)
    expect(await b).toStrictEqual(all)
    expect(await c).toStrictEqual(all)
    await ex.getResult({ timeout: 1000 })
    expect(await drain(ex.getRuntimeStream(undefined, { timeout: null }))).toStrictEqual(all)
  })
})

describe('3. timeout bounds the wait for the NEXT item', () => {
  it('ends the iteration quietly on expiry; the execution goes on and later items stay readable', async () => {
    const flow = new TriggerFlow({ name: 'slow' })
    const step = gate()
    flow
      .to(async (data) => {
        await data.putIntoStream('a')
        await step.promise
        await data.putIntoStream('b')
        return 'finished'
      })
      .end()
    const ex = flow.createExecution(closeWhenIdle)
    const early = await waitFor(drain(ex.getRuntimeStream(undefined, { timeout: 50 })), 2000)
    expect(early).toStrictEqual(['a'])
    expect(ex.getStatus()).toBe('running')

    let nullDone = false
    const waitsForClose = drain(ex.getRuntimeStream(undefined, { timeout: null })).then((items) => {
      nullDone = true
      return items
    })
    // Another bounded reader times out first; the unbounded one must still be waiting.
    expect(await drain(ex.getRuntimeStream(undefined, { timeout: 60 }))).toStrictEqual(['a'])
    expect(nullDone).toBe(false)

    step.open()
    expect(await waitFor(waitsForClose, 2000)).toStrictEqual(['a', 'b'])
    expect(await ex.getResult({ timeout: 1000 })).toBe('finished')
    expect(await drain(ex.getRuntimeStream(undefined, { timeout: 50 }))).toStrictEqual(['a', 'b'])
  })

  it('is per item, not for the whole stream', async () => {
    const flow = new TriggerFlow({ name: 'trickle' })
    flow
      .to(async (data) => {
        for (let i = 0; i < 12; i++) {
          await new Promise((r) => setTimeout(r, 25))
          await data.putIntoStream(i)
        }
      })
      .end()
    const ex = flow.createExecution(closeWhenIdle)
    // 12 x 25 ms = 300 ms in all, well past the 200 ms bound that applies to each gap.
    const items = await drain(ex.getRuntimeStream(undefined, { timeout: 200 }))
    expect(items).toStrictEqual([0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11])
  })
})

describe('4. stopStream closes the stream, not the execution', () => {
  it('closes every consumer, is idempotent, keeps the status, and drops later puts', async () => {
    const flow = new TriggerFlow({ name: 'stopper' })
    const afterStop = gate()
    const puts: boolean[] = []
    const stops: boolean[] = []
    flow
      .to(async (data) => {
        puts.push(await data.putIntoStream('kept'))
        stops.push(await data.stopStream())
        stops.push(await data.stopStream())
        await afterStop.promise
        puts.push(await data.putIntoStream('dropped'))
        return 'still ran'
      })
      .end()
    const ex = flow.createExecution(closeWhenIdle)
    const a = drain(ex.getRuntimeStream(undefined, { timeout: null }))
    const b = drain(ex.getRuntimeStream(undefined, { timeout: null }))
    expect(await waitFor(a, 2000)).toStrictEqual(['kept'])
    expect(await waitFor(b, 2000)).toStrictEqual(['kept'])
    expect(ex.getStatus()).toBe('running')
    expect(ex.runtimeStream.streamClose).toMatchObject({ reason: 'stopped', by: 'flow', lastSeq: 1 })
    expect(ex.stopStream('admin')).toBe(false)
    afterStop.open()
    expect(await ex.getResult({ timeout: 1000 })).toBe('still ran')
    expect(ex.getStatus()).toBe('completed')
    expect(puts).toStrictEqual([true, false])
    expect(stops).toStrictEqual([true, false])
    expect(await drain(ex.getRuntimeStream(undefined, { timeout: null }))).toStrictEqual(['kept'])
    // The first reason stands: completion does not overwrite the stop.
    expect(ex.runtimeStream.streamClose?.reason).toBe('stopped')
  })

  it('an admin stop (execution.stopStream(by)) never crashes a flow that keeps producing', async () => {
    const flow = new TriggerFlow({ name: 'producer' })
    const results: boolean[] = []
    const go = gate()
    flow
      .to(async (data) => {
        results.push(await data.putIntoStream(1))
        await go.promise
        results.push(await data.putIntoStream(2))
        return 'done'
      })
      .end()
    const ex = flow.createExecution(closeWhenIdle)
    await ex.start()
    await until(() => ex.runtimeStream.lastSeq === 1)
    expect(ex.stopStream('alice')).toBe(true)
    go.open()
    expect(await ex.getResult({ timeout: 1000 })).toBe('done')
    expect(results).toStrictEqual([true, false])
    expect(ex.runtimeStream.streamClose).toMatchObject({ reason: 'stopped', by: 'alice' })
  })

  const endings: ['completed' | 'failed', () => Promise<string>][] = [
    ['completed', async () => 'x'],
    [
      'failed',
      async () => {
        throw new Error('boom')
      },
    ],
  ]
  it.each(endings)('closes the stream when the execution ends %s', async (reason, handler) => {
    const flow = new TriggerFlow({ name: `ends-${reason}` })
    flow
      .to(async (data) => {
        await data.putIntoStream('before')
        return handler()
      })
      .end()
    const ex = flow.createExecution(closeWhenIdle)
    const items: unknown[] = []
    const thrown = await (async () => {
      for await (const item of ex.getRuntimeStream(undefined, { timeout: null })) items.push(item)
    })().then(
      () => undefined,
      (e: unknown) => e,
    )
    expect(items).toStrictEqual(['before'])
    // As in TriggerFlow 4.1: a failed execution's reader gets every item, then the failure.
    expect(thrown === undefined ? 'ended' : (thrown as { code?: string }).code).toBe(
      reason === 'failed' ? 'execution_failed' : 'ended',
    )
    expect(ex.runtimeStream.closed).toBe(true)
    expect(ex.runtimeStream.streamClose?.reason).toBe(reason)
    expect(ex.getStatus()).toBe(reason)
  })

  it('closes the stream when the execution is cancelled', async () => {
    const flow = new TriggerFlow({ name: 'ends-cancelled' })
    flow
      .to(async (data) => {
        await data.putIntoStream('before')
        await new Promise((r) => data.signal.addEventListener('abort', r))
      })
      .end()
    const ex = flow.createExecution(closeWhenIdle)
    const reader = drain(ex.getRuntimeStream(undefined, { timeout: null }))
    await until(() => ex.runtimeStream.lastSeq === 1)
    ex.cancel('test')
    expect(await waitFor(reader, 2000)).toStrictEqual(['before'])
    expect(ex.runtimeStream.streamClose?.reason).toBe('cancelled')
  })
})

describe('15. envelopes, resume and bounded retention for servers', () => {
  it('yields { seq, ts, data } with seq 1..N and no hole; since resumes after that seq', async () => {
    const flow = new TriggerFlow({ name: 'envelopes' })
    flow
      .to(async (data) => {
        for (let i = 1; i <= 20; i++) await data.putIntoStream({ i })
      })
      .end()
    const ex = flow.createExecution(closeWhenIdle)
    const before = Date.now()
    const events = await drain(ex.getRuntimeStreamEvents(undefined, { timeout: null }))
    expect(events.map((e) => ('seq' in e ? e.seq : -1))).toStrictEqual(
      Array.from({ length: 20 }, (_, i) => i + 1),
    )
    for (const e of events) {
      if (!('seq' in e)) throw new Error('unexpected gap')
      expect(e.data).toStrictEqual({ i: e.seq })
      expect(e.ts).toBeGreaterThanOrEqual(before)
      expect('source' in e).toBe(false)
    }
    const resumed = await drain(ex.getRuntimeStreamEvents(undefined, { since: 17, timeout: null }))
    expect(resumed.map((e) => ('seq' in e ? e.seq : -1))).toStrictEqual([18, 19, 20])
    expect(await drain(ex.getRuntimeStreamEvents(undefined, { since: 20, timeout: null }))).toStrictEqual([])
  })

  it('announces a cursor that fell out of retention with one explicit gap, then goes on', async () => {
    const flow = new TriggerFlow({ name: 'retained' })
    flow
      .to(async (data) => {
        for (let i = 1; i <= 50; i++) await data.putIntoStream(i)
      })
      .end()
    const ex = flow.createExecution({ ...closeWhenIdle, retention: { maxEvents: 10 } })
    await ex.start()
    await ex.getResult({ timeout: 1000 })
    expect(ex.runtimeStream.firstSeq).toBe(41)
    expect(ex.runtimeStream.size).toBe(10)
    const events = await drain(ex.getRuntimeStreamEvents(undefined, { since: 5, timeout: null }))
    expect(events[0]).toStrictEqual({ kind: 'gap', from: 6, to: 40 })
    expect(events.slice(1).map((e) => ('seq' in e ? e.seq : -1))).toStrictEqual(
      Array.from({ length: 10 }, (_, i) => 41 + i),
    )
    // The item view has no way to say "gap", so it yields only what is retained.
    expect(await drain(ex.getRuntimeStream(undefined, { timeout: null }))).toStrictEqual(
      Array.from({ length: 10 }, (_, i) => 41 + i),
    )
  })

  it('bounds retention by bytes too, always keeping the newest item', async () => {
    const flow = new TriggerFlow({ name: 'bytes' })
    flow
      .to(async (data) => {
        for (let i = 1; i <= 10; i++) await data.putIntoStream('x'.repeat(1000))
      })
      .end()
    const ex = flow.createExecution({ ...closeWhenIdle, retention: { maxBytes: 3500 } })
    await ex.start()
    await ex.getResult({ timeout: 1000 })
    expect(ex.runtimeStream.retainedBytes).toBeLessThanOrEqual(3500)
    expect(ex.runtimeStream.size).toBe(3)
    expect(ex.runtimeStream.firstSeq).toBe(8)
  })

  it('lets one synchronous listener follow an execution without iterators or timers', async () => {
    const flow = new TriggerFlow({ name: 'followed' })
    flow
      .to(async (data) => {
        for (let i = 1; i <= 5; i++) await data.putIntoStream(i)
      })
      .end()
    const ex = flow.createExecution(closeWhenIdle)
    const seqs: number[] = []
    let closed: unknown
    ex.runtimeStream.listen({
      onAppend: (entry) => {
        seqs.push(entry.envelope.seq)
        expect(JSON.parse(entry.json)).toStrictEqual(entry.envelope)
      },
      onClose: (info) => {
        closed = info
      },
    })
    await ex.start()
    await ex.getResult({ timeout: 1000 })
    expect(seqs).toStrictEqual([1, 2, 3, 4, 5])
    expect(closed).toStrictEqual({ reason: 'completed', lastSeq: 5 })
    const page = ex.runtimeStream.read(2, 2)
    expect(page.gap).toBeUndefined()
    expect(page.entries.map((e) => e.envelope.seq)).toStrictEqual([3, 4])
  })

  it('tells each append to exactly the listeners registered at the time, however many come and go', () => {
    const log = new RuntimeStreamLog<string>()
    const got: Record<string, string[]> = { a: [], b: [], c: [] }
    const listener = (name: string) => ({
      onAppend: (e: LogEntry<string>) => got[name]!.push(e.envelope.data),
    })
    log.append('none')
    const offA = log.listen(listener('a'))
    log.append('a')
    const offB = log.listen(listener('b'))
    const offC = log.listen(listener('c'))
    log.append('abc')
    // The first one goes: the two left still hear every append, once each.
    offA()
    log.append('bc')
    offC()
    log.append('b')
    offB()
    log.append('none again')
    const offC2 = log.listen(listener('c'))
    log.append('c')
    offC2()
    offC2()
    log.append('none at last')
    expect(got).toStrictEqual({ a: ['a', 'abc'], b: ['abc', 'bc', 'b'], c: ['abc', 'bc', 'c'] })
  })

  it('rejects reading a stream whose start input fails its contract, and stays startable', async () => {
    const { z } = await import('zod')
    const flow = new TriggerFlow({ name: 'strict-input', contract: { input: z.object({ n: z.number() }) } })
    flow.to(async (data) => data.input.n * 2).end()
    const ex = flow.createExecution(closeWhenIdle)
    await expect(drain(ex.getRuntimeStream({ n: 'nope' } as never))).rejects.toSatisfy(
      (e) => e instanceof FlowcastError && e.code === 'invalid_input' && /strict-input/.test(e.message),
    )
    expect(ex.getStatus()).toBe('created')
    await ex.start({ n: 21 })
    expect(await ex.getResult({ timeout: 1000 })).toBe(42)
  })
})
