/**
 * TriggerFlow 4.1's interrupt stream items (the execution id at the top, the interrupt's
 * documented fields), `getInterrupt` with history, batch and execution concurrency limits, and
 * execution-level `on` / `off` bindings. Ported from Agently's test_trigger_flow_pause_resume.py,
 * test_trigger_flow_runtime_integrity.py and the patterns / events docs.
 */
import { describe, expect, it } from 'vitest'
import { type RuntimeData, TriggerFlow } from '../../flows/index.ts'
import { until } from '../helpers/wait.ts'
import { closeWhenIdle, drain } from './util.ts'

describe('interrupt items and introspection', () => {
  it('stream items carry executionId and the interrupt record; getInterrupt keeps the history', async () => {
    const flow = new TriggerFlow({ name: 'shape' })
    flow.to(async (data) =>
      data.pauseFor({ type: 'human_input', payload: { question: 'approve?' }, resumeEvent: 'UserFeedback' }),
    )
    flow.when('UserFeedback').end()
    const ex = flow.createExecution(closeWhenIdle)
    const items = drain(ex.getRuntimeStream('pricing', { timeout: null }))
    await until(() => ex.getStatus() === 'waiting')
    const id = ex.getPendingInterrupts()[0]!.id
    const waiting = ex.getInterrupt(id)
    expect(waiting).toMatchObject({
      id,
      type: 'human_input',
      payload: { question: 'approve?' },
      resumeEvent: 'UserFeedback',
      resumeTo: { event: 'UserFeedback' },
      status: 'waiting',
      executionId: ex.id,
      sourceFlowName: 'shape',
      resumeCount: 0,
    })
    expect(typeof waiting?.createdAt).toBe('number')
    await ex.continueWith(id, { approved: true })
    await ex.getResult({ timeout: 1000 })
    const [pause, resume] = (await items) as Record<string, any>[]
    expect(pause).toStrictEqual({
      type: 'interrupt',
      action: 'pause',
      executionId: ex.id,
      interrupt: waiting,
    })
    expect(resume).toMatchObject({
      type: 'interrupt',
      action: 'resume',
      executionId: ex.id,
      value: { approved: true },
      interrupt: { id, status: 'resumed', resumeValue: { approved: true } },
    })
    expect(ex.getPendingInterrupts()).toStrictEqual([])
    expect(ex.getInterrupt(id)).toMatchObject({ status: 'resumed', resumeValue: { approved: true } })
    expect(ex.getInterrupts().map((i) => i.id)).toStrictEqual([id])
    expect(ex.getInterrupt('unknown')).toBeUndefined()
  })
})

describe('concurrency', () => {
  function tracker() {
    let active = 0
    let most = 0
    return {
      get most() {
        return most
      },
      async run<T>(value: T): Promise<T> {
        active++
        most = Math.max(most, active)
        // A few turns of the event loop, so that unbounded work would overlap here.
        for (let i = 0; i < 5; i++) await new Promise((r) => setImmediate(r))
        active--
        return value
      },
    }
  }

  it('batch({ concurrency }) and forEach({ concurrency }) bound their fan-out and keep the output shape', async () => {
    const t = tracker()
    const flow = new TriggerFlow({ name: 'bounded' })
    const member = (name: string) =>
      [name, async (data: RuntimeData) => t.run(`${name}:${data.input}`)] as const
    flow
      .batch(member('a'), member('b'), member('c'), { concurrency: 1 })
      .to(async (data) => Object.values(data.input as Record<string, string>))
      .forEach({ concurrency: 2 })
      .to(async (data) => t.run(String(data.input).toUpperCase()))
      .endForEach()
      .end()
    const ex = flow.createExecution(closeWhenIdle)
    await ex.start('x')
    expect(await ex.getResult({ timeout: 2000 })).toStrictEqual(['A:X', 'B:X', 'C:X'])
    expect(t.most).toBe(2)

    const u = tracker()
    const one = new TriggerFlow({ name: 'one-at-a-time' })
    one
      .batch(
        async () => u.run(1),
        async () => u.run(2),
        { concurrency: 1 },
      )
      .end()
    const ox = one.createExecution(closeWhenIdle)
    await ox.start()
    await ox.getResult({ timeout: 2000 })
    expect(u.most).toBe(1)
  })

  it('execution concurrency bounds every handler, nested emits included, without deadlocking a chain', async () => {
    const t = tracker()
    const flow = new TriggerFlow({ name: 'global-limit' })
    flow.when('Side').to(async (data) => t.run(data.input))
    flow
      .to(async (data) => {
        await data.emit('Side', 'nested')
        return t.run((data.input as number) + 1)
      })
      .batch(
        ['left', async (data: RuntimeData) => t.run(data.input)],
        ['right', async (data: RuntimeData) => t.run(data.input)],
      )
      .end()
    const ex = flow.createExecution({ ...closeWhenIdle, concurrency: 1 })
    await ex.start(1)
    expect(await ex.getResult({ timeout: 2000 })).toStrictEqual({ left: 2, right: 2 })
    expect(t.most).toBe(1)
  })
})

describe('execution.on / off', () => {
  it('binds a handler to one execution only, and off removes it', async () => {
    const flow = new TriggerFlow({ name: 'dynamic' })
    const ex = flow.createExecution({ autoCloseTimeout: null })
    const other = flow.createExecution({ autoCloseTimeout: null })
    const heard: unknown[] = []
    const id = ex.on('CardRequested', async (data) => heard.push(data.input), {
      bindingId: 'taskboard.run_card',
    })
    expect(id).toBe('taskboard.run_card')
    await ex.emit('CardRequested', 1)
    await other.emit('CardRequested', 'not this execution')
    expect(ex.off(id)).toBe(true)
    expect(ex.off(id)).toBe(false)
    await ex.emit('CardRequested', 2)
    expect(heard).toStrictEqual([1])
    await Promise.all([ex.close(), other.close()])
  })
})
