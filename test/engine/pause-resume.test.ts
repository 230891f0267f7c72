/**
 * TriggerFlow 4.1's pause: `pauseFor` parks its branch and returns at once; `continueWith`
 * resumes it by signal (`resumeTo` next / self / an event), returning once the resume is
 * dispatched. Ported from Agently's test_trigger_flow_pause_resume.py and runtime_integrity.py
 * and the pause-and-resume docs.
 */
import { describe, expect, it } from 'vitest'
import { FlowcastError, isFlowcastError, TriggerFlow } from '../../flows/index.ts'
import { until, waitFor } from '../helpers/wait.ts'
import { closeWhenIdle, gate } from './util.ts'

describe('pause parks its branch', () => {
  it('a pause between two turns of an emit loop: each continueWith settles and the loop goes on', async () => {
    const flow = new TriggerFlow({ name: 'loop-pause' })
    const turns: unknown[] = []
    flow.to(async (data) => data.emitNowait('Turn', 1))
    const ask = flow.chunk('ask', async (data) => {
      data.state.set('turn', data.value)
      return data.pauseFor({ type: 'next-turn', interruptId: `turn-${data.value}`, resumeTo: 'next' })
    })
    flow
      .when('Turn')
      .to(ask)
      .to(async (data) => {
        const turn = data.state.get<number>('turn')!
        turns.push({ turn, answer: data.value })
        if (turn < 3) data.emitNowait('Turn', turn + 1)
        else data.setResult(turns)
      })
    const ex = flow.createExecution(closeWhenIdle)
    await ex.start()
    for (const n of [1, 2, 3]) {
      await until(() => ex.getInterrupt(`turn-${n}`)?.status === 'waiting', 2000, `turn ${n} to pause`)
      await waitFor(ex.continueWith(`turn-${n}`, `a${n}`), 1000, `continueWith turn ${n}`)
    }
    expect(await ex.getResult({ timeout: 1000 })).toStrictEqual([
      { turn: 1, answer: 'a1' },
      { turn: 2, answer: 'a2' },
      { turn: 3, answer: 'a3' },
    ])
    expect(ex.getStatus()).toBe('completed')
  })

  it('two pauses in parallel branches are both raised and each answer goes on its own branch', async () => {
    const flow = new TriggerFlow({ name: 'two-pauses' })
    const left = flow.chunk('left', async (data) => data.pauseFor({ type: 'l', interruptId: 'left' }))
    const right = flow.chunk('right', async (data) => data.pauseFor({ type: 'r', interruptId: 'right' }))
    flow.to(left).collect('both', 'left')
    flow.to(right).collect('both', 'right')
    flow.when({ collect: 'both' }).end()
    const ex = flow.createExecution(closeWhenIdle)
    await ex.start()
    await until(() => ex.getPendingInterrupts().length === 2)
    expect(
      ex
        .getPendingInterrupts()
        .map((i) => i.id)
        .sort(),
    ).toStrictEqual(['left', 'right'])
    expect(ex.getStatus()).toBe('waiting')
    await ex.continueWith('right', 'R')
    expect(ex.getStatus()).toBe('waiting')
    await ex.continueWith('left', 'L')
    expect(await ex.getResult({ timeout: 1000 })).toStrictEqual({ left: 'L', right: 'R' })
  })

  it("resumeTo 'next': the answer is the paused chunk's output and the next step gets it", async () => {
    const flow = new TriggerFlow({ name: 'resume-next' })
    flow
      .to(async (data) => {
        data.state.set('draft', { topic: data.input })
        return data.pauseFor({
          type: 'human_input',
          payload: { question: 'approve?' },
          interruptId: 'approval',
        })
      })
      .to(async (data) => ({ draft: data.state.get('draft'), feedback: data.input }))
      .end()
    const ex = flow.createExecution(closeWhenIdle)
    await ex.start('pricing')
    await until(() => ex.getStatus() === 'waiting')
    await ex.continueWith('approval', { approved: true })
    expect(await ex.getResult({ timeout: 1000 })).toStrictEqual({
      draft: { topic: 'pricing' },
      feedback: { approved: true },
    })
  })

  it("resumeTo 'self' runs the chunk again with isResume and resume, on the same input", async () => {
    const flow = new TriggerFlow({ name: 'resume-self' })
    flow
      .to(async (data) => {
        if (data.isResume) {
          data.state.set('resume', {
            interruptId: data.resume?.interruptId,
            value: data.resume?.value,
            origin: data.event,
            input: data.input,
          })
          return 'approved'
        }
        return data.pauseFor({
          type: 'approval',
          payload: { value: data.input },
          interruptId: 'gate',
          resumeTo: 'self',
        })
      })
      .end()
    const ex = flow.createExecution(closeWhenIdle)
    await ex.start('document')
    await until(() => ex.getStatus() === 'waiting')
    await ex.continueWith('gate', { approved: true })
    const snapshot = await ex.close()
    expect(snapshot.resume).toStrictEqual({
      interruptId: 'gate',
      value: { approved: true },
      origin: 'START',
      input: 'document',
    })
    expect(snapshot.$final_result).toBe('approved')
    expect(await ex.getResult()).toBe('approved')
  })

  it("resumeTo 'self' has a replay guard: a chunk that pauses itself again fails the continueWith", async () => {
    const flow = new TriggerFlow({ name: 'self-guard' })
    flow.to(async (data) => data.pauseFor({ type: 'approval', interruptId: 'approval', resumeTo: 'self' }))
    const ex = flow.createExecution(closeWhenIdle)
    await ex.start()
    await until(() => ex.getStatus() === 'waiting')
    const err = await ex.continueWith('approval', { approved: true }).catch((e: unknown) => e)
    expect(isFlowcastError(err, 'invalid_state')).toBe(true)
    expect((err as Error).message).toContain('self resume limit')
    expect(ex.getPendingInterrupts()).toStrictEqual([])
  })

  it('maxResumes bounds a self-retry loop', async () => {
    const flow = new TriggerFlow({ name: 'self-retry' })
    flow
      .to(async (data) => {
        const count = data.resume?.resumeCount ?? 0
        if (count === 2) return `done after ${count}`
        return data.pauseFor({ type: 'retry', interruptId: 'retry', resumeTo: 'self', maxResumes: 2 })
      })
      .end()
    const ex = flow.createExecution(closeWhenIdle)
    await ex.start()
    await until(() => ex.getStatus() === 'waiting')
    await ex.continueWith('retry', 1)
    await until(() => ex.getInterrupt('retry')?.status === 'waiting')
    expect(ex.getInterrupt('retry')?.resumeCount).toBe(1)
    await ex.continueWith('retry', 2)
    expect(await ex.getResult({ timeout: 1000 })).toBe('done after 2')
  })

  it('resumeEvent routes the answer to the event; an outside emit of that event resumes it as well', async () => {
    const flow = new TriggerFlow({ name: 'resume-event' })
    flow.to(async (data) => data.pauseFor({ type: 'human_input', resumeEvent: 'UserFeedback' }))
    flow
      .when('UserFeedback')
      .to(async (data) => ({ feedback: data.input }))
      .end()
    const viaContinue = flow.createExecution(closeWhenIdle)
    await viaContinue.start()
    await until(() => viaContinue.getStatus() === 'waiting')
    const [pending] = viaContinue.getPendingInterrupts()
    expect(pending).toMatchObject({ resumeEvent: 'UserFeedback', resumeTo: { event: 'UserFeedback' } })
    await viaContinue.continueWith(pending!.id, 'yes')
    expect(await viaContinue.getResult({ timeout: 1000 })).toStrictEqual({ feedback: 'yes' })

    const viaEmit = flow.createExecution(closeWhenIdle)
    await viaEmit.start()
    await until(() => viaEmit.getStatus() === 'waiting')
    const id = viaEmit.getPendingInterrupts()[0]!.id
    await viaEmit.emit('UserFeedback', 'by event')
    expect(viaEmit.getInterrupt(id)).toMatchObject({ status: 'resumed', resumeValue: 'by event' })
    expect(await viaEmit.getResult({ timeout: 1000 })).toStrictEqual({ feedback: 'by event' })
  })

  it('continueWith returns once the resume is dispatched, not when the work it started ends', async () => {
    const flow = new TriggerFlow({ name: 'dispatch-only' })
    const hold = gate()
    let started = false
    flow
      .to(async (data) => data.pauseFor({ type: 'go', interruptId: 'go' }))
      .to(async (data) => {
        started = true
        await hold.promise
        return data.input
      })
      .end()
    const ex = flow.createExecution(closeWhenIdle)
    await ex.start()
    await until(() => ex.getStatus() === 'waiting')
    await waitFor(ex.continueWith('go', 'went'), 1000)
    await until(() => started)
    expect(ex.getStatus()).toBe('running')
    hold.open()
    expect(await ex.getResult({ timeout: 1000 })).toBe('went')
  })

  it('an answer its schema refuses keeps the interrupt waiting', async () => {
    const { z } = await import('zod')
    const flow = new TriggerFlow({ name: 'checked' })
    flow.to(async (data) => data.pauseFor({ type: 'n', interruptId: 'n', answer: z.number() })).end()
    const ex = flow.createExecution(closeWhenIdle)
    await ex.start()
    await until(() => ex.getStatus() === 'waiting')
    await expect(ex.continueWith('n', 'not a number')).rejects.toBeInstanceOf(FlowcastError)
    expect(ex.getInterrupt('n')?.status).toBe('waiting')
    await ex.continueWith('n', 7)
    expect(await ex.getResult({ timeout: 1000 })).toBe(7)
  })
})
