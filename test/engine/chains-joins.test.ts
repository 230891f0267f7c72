/**
 * TriggerFlow 4.1's chains and joins: two `.to(...)` on one position are parallel branches; the
 * same wiring code run twice adds nothing; an execution runs the wiring it was created with;
 * and-joins, batches and collections pair only what belongs to one run. Ported from Agently's
 * test_trigger_flow_runtime_integrity.py, test_trigger_flow_pause_resume.py and
 * test_trigger_flow_module_safe_definition.py.
 */
import { describe, expect, it } from 'vitest'
import { type RuntimeData, TriggerFlow } from '../../flows/index.ts'
import { closeWhenIdle, gate } from './util.ts'

describe('chains', () => {
  it('two .to on one position run in parallel and a collect waiting for both fills', async () => {
    const flow = new TriggerFlow({ name: 'fork' })
    const leftIn = gate()
    const rightIn = gate()
    const start = flow.to(async (data) => data.input)
    start
      .to(async (data) => {
        leftIn.open()
        await rightIn.promise
        return `L${data.input}`
      })
      .collect('both', 'left')
    start
      .to(async (data) => {
        rightIn.open()
        await leftIn.promise
        return `R${data.input}`
      })
      .collect('both', 'right')
      .end()
    const ex = flow.createExecution(closeWhenIdle)
    await ex.start(1)
    // Each branch waits for the other to have started: run in sequence, neither would finish.
    expect(await ex.getResult({ timeout: 1000 })).toStrictEqual({ left: 'L1', right: 'R1' })
  })

  it('running the same wiring code twice adds nothing', async () => {
    const flow = new TriggerFlow({ name: 'wired-twice' })
    const runs: string[] = []
    const step = async (data: RuntimeData) => {
      runs.push(String(data.input))
      return `${data.input}!`
    }
    const wire = () => {
      flow.to(step).end()
      flow.when('E').to(step)
    }
    wire()
    wire()
    const ex = flow.createExecution(closeWhenIdle)
    await ex.start('a')
    expect(await ex.getResult({ timeout: 1000 })).toBe('a!')
    expect(runs).toStrictEqual(['a'])
  })

  it('an execution runs the wiring it was created with, not wiring added later', async () => {
    const flow = new TriggerFlow({ name: 'late-wiring' })
    flow.when('E').to(async (data) => data.state.append('heard', `first ${data.input}`))
    const ex = flow.createExecution({ autoCloseTimeout: null })
    flow.when('E').to(async (data) => data.state.append('heard', `second ${data.input}`))
    await ex.emit('E', 1)
    expect(await ex.close()).toStrictEqual({ heard: ['first 1'] })
    const later = flow.createExecution({ autoCloseTimeout: null })
    await later.emit('E', 2)
    expect(((await later.close()).heard as string[]).sort()).toStrictEqual(['first 2', 'second 2'])
  })
})

describe('joins and collections are scoped to their run', () => {
  async function twoRuns(flow: TriggerFlow) {
    const ex = flow.createExecution({ autoCloseTimeout: null })
    await Promise.all([ex.emit('Run', 1), ex.emit('Run', 2)])
    await ex.close()
    return ex
  }

  it('an and-join of events emitted by two concurrent runs pairs each run with itself', async () => {
    const flow = new TriggerFlow({ name: 'scoped-join' })
    const second = { 1: gate(), 2: gate() }
    flow.when('Run').to(async (data) => {
      const n = data.input as 1 | 2
      await data.emit('A', `A${n}`)
      // Run 1 emits its B after run 2 has emitted both of its own.
      if (n === 1) await second[2].promise
      await data.emit('B', `B${n}`)
      second[n].open()
    })
    flow.when(['A', 'B'], { mode: 'and' }).to(async (data) => data.state.append('joined', data.input))
    const ex = await twoRuns(flow)
    const joined = ex.getState('joined') as { event: { A: string; B: string } }[]
    expect([...joined].sort((a, b) => a.event.A.localeCompare(b.event.A))).toStrictEqual([
      { event: { A: 'A1', B: 'B1' } },
      { event: { A: 'A2', B: 'B2' } },
    ])
  })

  it('outside emits without a run of their own join each other, per execution', async () => {
    const flow = new TriggerFlow({ name: 'outside-join' })
    flow.when({ event: ['A', 'B'] }, { mode: 'and' }).end()
    const one = flow.createExecution({ autoCloseTimeout: null })
    const two = flow.createExecution({ autoCloseTimeout: null })
    await one.emit('A', 'one-a')
    await two.emit('B', 'two-b')
    await one.emit('B', 'one-b')
    await two.emit('A', 'two-a')
    await Promise.all([one.close(), two.close()])
    expect(await one.getResult()).toStrictEqual({ event: { A: 'one-a', B: 'one-b' } })
    expect(await two.getResult()).toStrictEqual({ event: { A: 'two-a', B: 'two-b' } })
  })

  it('a batch run twice at once keeps each invocation apart', async () => {
    const flow = new TriggerFlow({ name: 'scoped-batch' })
    const leftDone = gate()
    flow
      .when('Run')
      .batch(
        async (data: RuntimeData) => {
          if (data.input === 2) leftDone.open()
          return `L${data.input}`
        },
        async (data: RuntimeData) => {
          if (data.input === 1) await leftDone.promise
          return `R${data.input}`
        },
      )
      .to(async (data) => data.state.append('results', data.input))
    const ex = await twoRuns(flow)
    const results = ex.getState('results') as Record<string, string>[]
    expect(results.map((r) => Object.values(r).sort())).toStrictEqual([
      ['L2', 'R2'],
      ['L1', 'R1'],
    ])
  })

  it('a collection filled by two concurrent runs pairs each run with itself', async () => {
    const flow = new TriggerFlow({ name: 'scoped-collect' })
    const otherDone = gate()
    const run = flow.when('Run')
    run
      .to(async (data) => {
        if (data.input === 1) await otherDone.promise
        return `x${data.input}`
      })
      .collect('pair', 'x')
    run.to(async (data) => `y${data.input}`).collect('pair', 'y')
    flow.when({ collect: 'pair' }).to(async (data) => {
      data.state.append('pairs', data.input)
      if ((data.input as { x: string }).x === 'x2') otherDone.open()
    })
    const ex = await twoRuns(flow)
    expect(ex.getState('pairs')).toStrictEqual([
      { x: 'x2', y: 'y2' },
      { x: 'x1', y: 'y1' },
    ])
  })
})

describe('errors reach callers', () => {
  it('execution.emit and data.emit reject with the error a handler threw', async () => {
    const flow = new TriggerFlow({ name: 'emit-error' })
    const boom = new Error('handler failed')
    flow.when('Bad').to(async () => {
      throw boom
    })
    const ex = flow.createExecution({ autoCloseTimeout: null })
    await expect(ex.emit('Bad')).rejects.toBe(boom)
    expect(ex.getStatus()).toBe('failed')

    const inner = new TriggerFlow({ name: 'inner-emit-error' })
    let caught: unknown
    inner.when('Bad').to(async () => {
      throw boom
    })
    inner.to(async (data) => {
      caught = await data.emit('Bad').catch((e: unknown) => e)
    })
    const ix = inner.createExecution(closeWhenIdle)
    await ix.start()
    await expect(ix.getResult({ timeout: 1000 })).rejects.toMatchObject({
      code: 'execution_failed',
      cause: boom,
    })
    expect(caught).toBe(boom)
  })

  it("a failing child's own error is the parent's error and its failure's cause", async () => {
    const child = new TriggerFlow({ name: 'bad-child' })
    const boom = new RangeError('child broke')
    child.to(async () => {
      throw boom
    })
    const parent = new TriggerFlow({ name: 'parent-of-bad' })
    parent.to(child).end()
    const ex = parent.createExecution(closeWhenIdle)
    await ex.start()
    await expect(ex.getResult({ timeout: 1000 })).rejects.toMatchObject({
      code: 'execution_failed',
      cause: boom,
    })
    expect(ex.getError()).toBe(boom)
  })
})
