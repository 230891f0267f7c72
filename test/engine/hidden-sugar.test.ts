/**
 * TriggerFlow 4.1's hidden-execution sugar: `flow.start(input)` and `flow.getRuntimeStream(input)`
 * run an execution that closes when idle; a pause fails fast (no handle to continue it). Ported
 * from Agently's lifecycle docs and test_trigger_flow_pause_resume.py.
 */
import { describe, expect, it } from 'vitest'
import { isFlowcastError, TriggerFlow } from '../../flows/index.ts'
import { drain } from './util.ts'

describe('hidden execution sugar', () => {
  it('flow.start returns the close snapshot; flow.getRuntimeStream yields the items', async () => {
    const flow = new TriggerFlow({ name: 'sugar' })
    flow.to(async (data) => {
      await data.putIntoStream('step-1')
      await data.putIntoStream('step-2')
      data.state.set('done', data.input)
    })
    expect(await flow.start('x')).toStrictEqual({ done: 'x' })
    expect(await drain(flow.getRuntimeStream('y', { timeout: null }))).toStrictEqual(['step-1', 'step-2'])
  })

  it('a pause in a hidden execution fails it at once', async () => {
    const flow = new TriggerFlow({ name: 'sugar-pause' })
    flow.to(async (data) => data.pauseFor({ type: 'human_input', resumeTo: 'next' }))
    const err = await flow.start('pricing').catch((e: unknown) => e)
    expect(isFlowcastError(err, 'execution_failed')).toBe(true)
    expect(isFlowcastError((err as Error).cause, 'invalid_state')).toBe(true)
    expect(((err as Error).cause as Error).message).toContain('requires an execution handle')
    await expect(drain(flow.getRuntimeStream('pricing', { timeout: null }))).rejects.toSatisfy((e) =>
      isFlowcastError(e, 'execution_failed'),
    )
  })
})
