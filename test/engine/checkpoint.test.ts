/**
 * What a durable store needs of the engine (issue 16's ground): a call at every step boundary
 * to save on, a size bound on the snapshot, and a restored step that runs again putting items
 * marked with its attempt at the seqs after the checkpoint's, so a watcher's sequence has no gap.
 */
import { describe, expect, it } from 'vitest'
import { type ExecutionSnapshot, isFlowcastError, TriggerFlow } from '../../flows/index.ts'
import { until } from '../helpers/wait.ts'
import { closeWhenIdle, gate } from './util.ts'

function steps(hold?: Promise<void>) {
  const flow = new TriggerFlow({ name: 'three-steps' })
  flow
    .to(async (data) => {
      await data.putIntoStream({ step: 1 })
      return 1
    })
    .to(async (data) => {
      await data.putIntoStream({ step: 2, attempt: data.attempt })
      if (hold) await hold
      await data.putIntoStream({ step: '2b', attempt: data.attempt })
      return 2
    })
    .to(async (data) => {
      await data.putIntoStream({ step: 3 })
      return data.input
    })
    .end()
  return flow
}

describe('checkpoints', () => {
  it('onCheckpoint fires at step boundaries; the last checkpoint restores with the stream going on', async () => {
    const hold = gate()
    const ex = steps(hold.promise).createExecution(closeWhenIdle)
    let last: ExecutionSnapshot | undefined
    let calls = 0
    const off = ex.onCheckpoint(() => {
      calls++
      last = ex.save()
    })
    await ex.start()
    await until(() => ex.runtimeStream.lastSeq === 2)
    // The node "dies" here: step 2 has put one item and waits.
    off()
    ex.cancel('node lost')
    hold.open()
    expect(calls).toBeGreaterThanOrEqual(3)
    expect(last!.running.map((r) => r.attempt)).toStrictEqual([1])
    // Step 1 ended after step 2 had put its first item: that item is behind the checkpoint.
    expect(last!.stream.lastSeq).toBe(2)

    const restored = steps()
      .createExecution(closeWhenIdle)
      .load(JSON.parse(JSON.stringify(last)))
    expect(await restored.getResult({ timeout: 1000 })).toBe(2)
    const { gap, entries } = restored.runtimeStream.read(0)
    expect(gap).toStrictEqual({ kind: 'gap', from: 1, to: 2 })
    // At least once: step 2 runs again and its items are new seqs, marked with the attempt.
    expect(entries.map((e) => [e.envelope.seq, e.envelope.attempt, e.envelope.data])).toStrictEqual([
      [3, 2, { step: 2, attempt: 2 }],
      [4, 2, { step: '2b', attempt: 2 }],
      [5, undefined, { step: 3 }],
    ])
  })

  it('save({ maxBytes }) refuses a snapshot over the bound with payload_too_large', async () => {
    const flow = new TriggerFlow({ name: 'big-state' })
    flow.to(async (data) => {
      data.state.set('blob', 'x'.repeat(10_000))
      return data.pauseFor({ type: 'wait' })
    })
    const ex = flow.createExecution(closeWhenIdle)
    await ex.start()
    await until(() => ex.getStatus() === 'waiting')
    let err: unknown
    try {
      ex.save({ maxBytes: 4096 })
    } catch (e) {
      err = e
    }
    expect(isFlowcastError(err, 'payload_too_large')).toBe(true)
    expect(ex.save({ maxBytes: 64 * 1024 }).state.blob).toHaveLength(10_000)
    ex.cancel()
  })
})
