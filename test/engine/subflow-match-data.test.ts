/**
 * TriggerFlow 4.1's child flows (a deep copy of the input, capture / writeBack, the close
 * snapshot as the next value, a child's pause projected onto the parent), match (runtime data to
 * predicates, deep value cases, if / elif / else) and runtime data (`data.input`, the trigger,
 * emitNowait, dot-path state, state and flow-data triggers, skipExceptions). Ported from Agently's
 * sub-flow, patterns and state docs and its test_trigger_flow_*.py files.
 */
import { describe, expect, it } from 'vitest'
import { type RuntimeData, TriggerFlow } from '../../flows/index.ts'
import { until } from '../helpers/wait.ts'
import { closeWhenIdle, drain } from './util.ts'

describe('child flows', () => {
  it("gets a deep copy of the parent's value; without a result its close snapshot is the next value", async () => {
    const child = new TriggerFlow({ name: 'mutating-child' })
    child.to(async (data) => {
      ;(data.input as { list: number[] }).list.push(99)
      data.state.set('seen', (data.input as { list: number[] }).list.length)
    })
    const parent = new TriggerFlow({ name: 'copy-parent' })
    const original = { list: [1, 2] }
    parent
      .to(async () => original)
      .to(child)
      .to(async (data) => ({ fromChild: data.input, parentValue: original }))
      .end()
    const ex = parent.createExecution(closeWhenIdle)
    await ex.start()
    expect(await ex.getResult({ timeout: 1000 })).toStrictEqual({
      fromChild: { seen: 3 },
      parentValue: { list: [1, 2] },
    })
  })

  it('capture picks the input from the parent state; writeBack maps the outcome to the value and state', async () => {
    const child = new TriggerFlow({ name: 'report-child' })
    child.to(async (data) => {
      data.state.set('report', { title: `report on ${data.input}` })
      data.state.set('pages', 3)
    })
    const parent = new TriggerFlow({ name: 'report-parent' })
    parent
      .to(async (data) => {
        data.state.set('request.topic', data.input)
        return 'ignored value'
      })
      .toSubFlow(child, {
        capture: { input: 'state.request.topic' },
        writeBack: { value: 'result.report', 'state.pageCount': 'snapshot.pages' },
      })
      .to(async (data) => ({ next: data.input, pages: data.state.get('pageCount') }))
      .end()
    const ex = parent.createExecution(closeWhenIdle)
    await ex.start('tides')
    expect(await ex.getResult({ timeout: 1000 })).toStrictEqual({
      next: { title: 'report on tides' },
      pages: 3,
    })
  })

  it("a child's pause is projected onto the parent under a root-level id with a project item", async () => {
    const child = new TriggerFlow({ name: 'approving-child' })
    child
      .to(async (data) => data.pauseFor({ type: 'approval', payload: { q: 'ok?' }, interruptId: 'legal' }))
      .to(async (data) => `approved: ${data.input}`)
      .end()
    const parent = new TriggerFlow({ name: 'approving-parent' })
    parent
      .to(child)
      .to(async (data) => `parent got ${data.input}`)
      .end()
    const ex = parent.createExecution(closeWhenIdle)
    const items = drain(ex.getRuntimeStream(undefined, { timeout: null }))
    await until(() => ex.getStatus() === 'waiting')
    const [root] = ex.getPendingInterrupts()
    expect(root).toMatchObject({ type: 'approval', localInterruptId: 'legal', status: 'waiting' })
    expect(root!.id).toBe(`${root!.subFlowFrameId}:legal`)
    expect(root!.executionId).not.toBe(ex.id)
    await ex.continueWith(root!.id, 'yes')
    expect(await ex.getResult({ timeout: 1000 })).toBe('parent got approved: yes')
    const seen = (await items) as { type: string; action: string; executionId: string }[]
    expect(seen.map((i) => i.action)).toStrictEqual(['pause', 'project', 'resume', 'resume'])
    expect(seen[1]!.executionId).toBe(ex.id)
    expect(ex.getInterrupt(root!.id)?.status).toBe('resumed')
  })
})

describe('match', () => {
  it('compares object and array cases deeply', async () => {
    const flow = new TriggerFlow({ name: 'deep-match' })
    flow
      .match()
      .case({ kind: 'a', n: [1, 2] })
      .to(async () => 'object hit')
      .case([1, 2, 3])
      .to(async () => 'array hit')
      .caseElse()
      .to(async () => 'else')
      .endMatch()
      .end()
    const run = async (input: unknown) => {
      const ex = flow.createExecution(closeWhenIdle)
      await ex.start(input)
      return ex.getResult({ timeout: 1000 })
    }
    expect(await run({ kind: 'a', n: [1, 2] })).toBe('object hit')
    expect(await run([1, 2, 3])).toBe('array hit')
    expect(await run({ kind: 'a', n: [1] })).toBe('else')
  })

  it('predicates get the runtime data; ifCondition / elifCondition / elseCondition / endCondition', async () => {
    const flow = new TriggerFlow({ name: 'grades' })
    flow
      .to(async (data) => ({ score: data.input }))
      .ifCondition((data: RuntimeData) => (data.input as { score: number }).score >= 90)
      .to(async () => 'A')
      .elifCondition((data: RuntimeData) => (data.input as { score: number }).score >= 80)
      .to(async () => 'B')
      .elseCondition()
      .to(async () => 'C')
      .endCondition()
      .to(async (data) => `grade ${data.input}`)
      .end()
    const grade = async (score: number) => {
      const ex = flow.createExecution(closeWhenIdle)
      await ex.start(score)
      return ex.getResult({ timeout: 1000 })
    }
    expect(await grade(95)).toBe('grade A')
    expect(await grade(82)).toBe('grade B')
    expect(await grade(10)).toBe('grade C')
  })
})

describe('runtime data', () => {
  it('data.input is the incoming value; data.event and triggerType say what ran the chunk', async () => {
    const flow = new TriggerFlow({ name: 'triggers' })
    const seen: unknown[] = []
    const record = (data: RuntimeData) => {
      seen.push([data.input === data.value, data.input, data.event, data.triggerType])
    }
    const first = flow.chunk('first', async (data) => {
      record(data)
      await data.emit('Ping', 'payload')
      return 'first out'
    })
    flow.to(first).to(async (data) => record(data))
    flow.when('Ping').to(async (data) => record(data))
    const ex = flow.createExecution(closeWhenIdle)
    await ex.start('start value')
    await ex.getResult({ timeout: 1000 })
    expect(seen).toStrictEqual([
      [true, 'start value', 'START', 'start'],
      [true, 'payload', 'Ping', 'event'],
      [true, 'first out', 'first', 'chunk'],
    ])
  })

  it('emitNowait fires without waiting; an event loop drains on its own', async () => {
    const flow = new TriggerFlow({ name: 'loop' })
    flow.to(async (data) => {
      data.state.set('values', [], { emit: false })
      data.emitNowait('Loop', 0)
      return 'returned before the loop ran'
    })
    flow.when('Loop').to(async (data) => {
      data.state.append('values', data.input, { emit: false })
      const n = data.input as number
      if (n < 3) data.emitNowait('Loop', n + 1)
      else data.state.set('done', { last: n, count: (data.state.get('values') as number[]).length })
    })
    const ex = flow.createExecution(closeWhenIdle)
    await ex.start()
    expect(await ex.getResult({ timeout: 1000 })).toStrictEqual({
      values: [0, 1, 2, 3],
      done: { last: 3, count: 4 },
    })
  })

  it('state keys are dot paths, and a state change fires when({ state }) unless emit is false', async () => {
    const flow = new TriggerFlow({ name: 'dot-state' })
    const heard: unknown[] = []
    flow.when({ state: 'user.name' }).to(async (data) => {
      heard.push([data.triggerType, data.event, data.input])
    })
    flow
      .to(async (data) => {
        data.state.set('user.name', 'ada')
        data.state.set('user.name', 'quiet', { emit: false })
        data.state.set('user.name', 'grace')
        data.state.set('user.age', 36)
        return [
          data.state.get('user.name'),
          data.state.has('user.age'),
          data.state.get('user.nope', 'fallback'),
        ]
      })
      .end()
    const ex = flow.createExecution(closeWhenIdle)
    await ex.start()
    expect(await ex.getResult({ timeout: 1000 })).toStrictEqual(['grace', true, 'fallback'])
    expect(ex.getState()).toStrictEqual({ user: { name: 'grace', age: 36 } })
    expect(ex.getState('user.age')).toBe(36)
    expect(heard).toStrictEqual([
      ['state', 'user.name', 'ada'],
      ['state', 'user.name', 'grace'],
    ])
  })

  it('flowData is shared by the executions of a flow and fires when({ flowData })', async () => {
    const flow = new TriggerFlow({ name: 'flow-data' })
    flow.when({ flowData: 'counter' }).to(async (data) => data.state.set('saw', data.input))
    flow.to(async (data) => data.flowData.set('counter', (data.flowData.get<number>('counter') ?? 0) + 1))
    for (const expected of [1, 2]) {
      const ex = flow.createExecution(closeWhenIdle)
      await ex.start()
      expect(await ex.getResult({ timeout: 1000 })).toStrictEqual({ saw: expected })
    }
    expect(flow.flowData.get('counter')).toBe(2)
  })

  it('skipExceptions: the failing chunk emits nothing downstream, even to when(chunk)', async () => {
    const flow = new TriggerFlow({ name: 'skip', skipExceptions: true })
    const ran: string[] = []
    const bad = flow.chunk('bad', async () => {
      throw new Error('swallowed')
    })
    flow.when(bad).to(async () => ran.push('when(bad)'))
    flow.to(bad).to(async () => ran.push('after bad'))
    const ex = flow.createExecution(closeWhenIdle)
    await ex.start()
    await ex.getResult({ timeout: 1000 })
    expect(ex.getStatus()).toBe('completed')
    expect(ran).toStrictEqual([])
    expect(ex.skippedErrors.map((e) => e.chunk)).toStrictEqual(['bad'])
  })
})
