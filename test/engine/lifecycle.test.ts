/**
 * TriggerFlow 4.1's execution lifetime: open (accepts outside events, also before start), sealed
 * (drains what it accepted), closed by `close()` (drains, stops the stream, returns the close
 * snapshot; refuses while interrupts wait unless told to cancel them) or by idle auto-close.
 * Results read what `.end()` / `setResult` wrote, else the close snapshot. Ported from Agently's
 * lifecycle docs and test_trigger_flow_pause_resume.py / runtime_integrity.py.
 */
import { describe, expect, it } from 'vitest'
import { DEFAULT_AUTO_CLOSE_TIMEOUT_MS, isFlowcastError, TriggerFlow } from '../../flows/index.ts'
import { until } from '../helpers/wait.ts'
import { closeWhenIdle, drain, gate } from './util.ts'

describe('execution lifetime', () => {
  it('is open: an outside emit is accepted before start and runs its handlers', async () => {
    const flow = new TriggerFlow({ name: 'open' })
    flow.when('Ping').to(async (data) => data.state.set('ping', data.input))
    const ex = flow.createExecution({ autoCloseTimeout: null })
    expect(ex.lifecycle).toBe('open')
    await ex.emit('Ping', 'early')
    expect(ex.getState('ping')).toBe('early')
    expect(ex.getStatus()).toBe('running')
    expect(await ex.close()).toStrictEqual({ ping: 'early' })
    expect(ex.getStatus()).toBe('completed')
  })

  it('does not complete when the chain ends: it stays open for events until close()', async () => {
    const flow = new TriggerFlow({ name: 'stays' })
    flow.to(async () => 'done').end()
    flow.when('More').to(async (data) => data.state.append('more', data.input))
    const ex = flow.createExecution({ autoCloseTimeout: null })
    const reader = drain(ex.getRuntimeStream(undefined, { timeout: null }))
    await until(() => ex.getState('more') === undefined && ex.started)
    await ex.emit('More', 1)
    await ex.emit('More', 2)
    expect(ex.getStatus()).toBe('running')
    const snapshot = await ex.close()
    expect(snapshot).toStrictEqual({ more: [1, 2], $final_result: 'done' })
    expect(await reader).toStrictEqual([])
    expect(ex.runtimeStream.streamClose?.reason).toBe('completed')
    expect(await ex.getResult()).toBe('done')
    expect(await ex.close()).toBe(snapshot)
  })

  it('close() drains running work first; concurrent callers get the same snapshot', async () => {
    const flow = new TriggerFlow({ name: 'drain' })
    const hold = gate()
    flow.to(async (data) => {
      await hold.promise
      data.state.set('finished', true)
    })
    const ex = flow.createExecution({ autoClose: false })
    await ex.start()
    const first = ex.close()
    const second = ex.close()
    expect(ex.lifecycle).toBe('sealed')
    await expect(ex.emit('x')).rejects.toSatisfy((e) => isFlowcastError(e, 'invalid_state'))
    hold.open()
    const [a, b] = await Promise.all([first, second])
    expect(a).toStrictEqual({ finished: true })
    expect(b).toBe(a)
    expect(ex.lifecycle).toBe('closed')
  })

  it('seal() refuses outside emit and continueWith but lets accepted work finish', async () => {
    const flow = new TriggerFlow({ name: 'seal' })
    const hold = gate()
    flow
      .to(async (data) => {
        await data.emit('Inner', 1)
        await hold.promise
        return 'inner emits still ran'
      })
      .end()
    flow.when('Inner').to(async (data) => data.state.set('inner', data.input))
    const ex = flow.createExecution(closeWhenIdle)
    await ex.start()
    await until(() => ex.getState('inner') === 1)
    ex.seal()
    await expect(ex.emit('Inner', 2)).rejects.toSatisfy((e) => isFlowcastError(e, 'invalid_state'))
    hold.open()
    expect(await ex.getResult({ timeout: 1000 })).toBe('inner emits still ran')
  })

  it("close() refuses while interrupts wait; pendingInterrupts: 'cancel' cancels them", async () => {
    const flow = new TriggerFlow({ name: 'close-pending' })
    flow.to(async (data) => data.pauseFor({ type: 'approval', interruptId: 'approval' }))
    const ex = flow.createExecution({ autoClose: false })
    await ex.start('pricing')
    await until(() => ex.getStatus() === 'waiting')
    const refused = await ex.close().catch((e: unknown) => e)
    expect(isFlowcastError(refused, 'invalid_state')).toBe(true)
    expect((refused as Error).message).toContain('pending interrupts are waiting')
    expect(ex.getStatus()).toBe('waiting')
    const snapshot = await ex.close({ pendingInterrupts: 'cancel' })
    expect(snapshot).toStrictEqual({})
    expect(ex.getStatus()).toBe('cancelled')
    expect(ex.getPendingInterrupts()).toStrictEqual([])
    expect(ex.getInterrupt('approval')?.status).toBe('cancelled')
  })

  it('auto-closes once idle for autoCloseTimeout, and a pause holds the timer', async () => {
    expect(DEFAULT_AUTO_CLOSE_TIMEOUT_MS).toBe(10_000)
    const flow = new TriggerFlow({ name: 'idle' })
    flow
      .to(async (data) => data.pauseFor({ type: 'wait', interruptId: 'w' }))
      .to(async (data) => `got ${data.input}`)
      .end()
    const ex = flow.createExecution({ autoCloseTimeout: 20 })
    await ex.start()
    await until(() => ex.getStatus() === 'waiting')
    // Waiting is not idle: a twin without the pause closes by its timer meanwhile.
    const twin = new TriggerFlow({ name: 'idle-twin' })
    twin.to(async () => 'twin').end()
    const tx = twin.createExecution({ autoCloseTimeout: 20 })
    await tx.start()
    expect(await tx.getResult({ timeout: 2000 })).toBe('twin')
    expect(ex.getStatus()).toBe('waiting')
    await ex.continueWith('w', 'answer')
    expect(await ex.getResult({ timeout: 2000 })).toBe('got answer')
    expect(ex.getStatus()).toBe('completed')
  })

  it('autoCloseTimeout 0 closes as soon as nothing is pending (how the server runs executions)', async () => {
    const flow = new TriggerFlow({ name: 'zero' })
    flow.to(async () => 'now').end()
    const ex = flow.createExecution(closeWhenIdle)
    await ex.start()
    expect(await ex.getResult({ timeout: 1000 })).toBe('now')
    expect(ex.getStatus()).toBe('completed')
  })

  it('without .end() or setResult the result is the close snapshot (the state)', async () => {
    const flow = new TriggerFlow({ name: 'snapshot-result' })
    flow.to(async (data) => {
      data.state.set('report.title', data.input)
      return 'not the result'
    })
    const ex = flow.createExecution(closeWhenIdle)
    await ex.start('T')
    expect(await ex.getResult({ timeout: 1000 })).toStrictEqual({ report: { title: 'T' } })
  })
})
