/**
 * Save and load (TriggerFlow 4.1's execution snapshot): a versioned, JSON-serialisable snapshot
 * of state, interrupts, where each branch stands (parked, inside a block, half-way through a
 * join, running) and the stream position, which a fresh execution of the same flow restores, in
 * this process or in another one; the restored stream goes on at lastSeq + 1. Ported from
 * Agently's lifecycle / persistence docs and test_trigger_flow_pause_resume.py.
 */
import { spawn } from 'node:child_process'
import { createRequire } from 'node:module'
import { describe, expect, it } from 'vitest'
import { type ExecutionSnapshot, isFlowcastError, SNAPSHOT_VERSION, TriggerFlow } from '../../flows/index.ts'
import { until, waitFor } from '../helpers/wait.ts'
import { reviewFlow } from './fixtures/review-flow.ts'
import { closeWhenIdle, gate } from './util.ts'

const TSX = createRequire(import.meta.url).resolve('tsx')

/** Starts `review` and answers ann: it then waits for bob only, its join holding Published. */
async function halfReviewed() {
  const ex = reviewFlow().createExecution(closeWhenIdle)
  await ex.start('tides')
  await until(() => ex.getPendingInterrupts().length === 2)
  await ex.continueWith('review-ann', 'ann: yes')
  await until(() => ex.runtimeStream.lastSeq === 5)
  return ex
}

describe('save / load', () => {
  it('a waiting execution saves to JSON and a fresh execution of the same flow goes on from there', async () => {
    const ex = await halfReviewed()
    const snap = JSON.parse(JSON.stringify(ex.save())) as ExecutionSnapshot
    expect(snap).toMatchObject({
      version: SNAPSHOT_VERSION,
      kind: 'flowcast.execution',
      flow: 'review',
      status: 'waiting',
    })
    expect(snap.stream.lastSeq).toBe(5)
    expect(snap.interrupts.map((i) => [i.info.id, i.info.status])).toStrictEqual([
      ['review-ann', 'resumed'],
      ['review-bob', 'waiting'],
    ])
    // The and-join already has 'Published': its progress is part of the snapshot.
    expect(snap.joins).toHaveLength(1)

    const restored = reviewFlow().createExecution(closeWhenIdle).load(snap)
    expect(restored.id).toBe(ex.id)
    expect(restored.getStatus()).toBe('waiting')
    expect(restored.getState()).toStrictEqual(ex.getState())
    expect(restored.getPendingInterrupts().map((i) => i.id)).toStrictEqual(['review-bob'])
    expect(restored.getInterrupt('review-ann')?.status).toBe('resumed')
    ex.cancel('moved')

    await restored.continueWith('review-bob', 'bob: yes')
    expect(await restored.getResult({ timeout: 1000 })).toStrictEqual({
      topic: 'tides',
      joined: { event: { Reviewed: ['ann: yes', 'bob: yes'], Published: 'v1' } },
    })
    const { gap, entries } = restored.runtimeStream.read(0)
    expect(gap).toStrictEqual({ kind: 'gap', from: 1, to: 5 })
    expect(entries.map((e) => e.envelope.seq)).toStrictEqual([6, 7, 8])
    expect(
      entries.map(
        (e) =>
          (e.envelope.data as { action?: string; step?: string }).action ??
          (e.envelope.data as { step: string }).step,
      ),
    ).toStrictEqual(['resume', 'reviewed', 'done'])
  })

  it('another process with the same flow restores the snapshot and finishes it', async () => {
    const ex = await halfReviewed()
    const snap = JSON.stringify(ex.save())
    ex.cancel('moved to another process')
    const child = spawn(process.execPath, ['--import', TSX, 'test/engine/fixtures/restore.ts'], {
      stdio: ['pipe', 'pipe', 'pipe'],
    })
    let out = ''
    let err = ''
    child.stdout.on('data', (d) => {
      out += d
    })
    child.stderr.on('data', (d) => {
      err += d
    })
    const exited = new Promise<number | null>((resolve) => child.on('exit', resolve))
    child.stdin.end(snap)
    expect(await waitFor(exited, 30_000, 'the restoring process')).toBe(0)
    expect(err).toBe('')
    const report = JSON.parse(out.trim())
    expect(report.id).toBe(ex.id)
    expect(report.pending).toStrictEqual(['review-bob'])
    expect(report.result).toStrictEqual({
      topic: 'tides',
      joined: { event: { Reviewed: ['ann: yes', 'bob: yes'], Published: 'v1' } },
    })
    expect(report.gap).toStrictEqual({ kind: 'gap', from: 1, to: 5 })
    expect(report.seqs).toStrictEqual([6, 7, 8])
  })

  it('a step running when the snapshot was taken runs again after the load, with data.attempt 2', async () => {
    const hold = gate()
    const build = (blocking: boolean) => {
      const flow = new TriggerFlow({ name: 'long-step' })
      flow
        .to(async (data) => {
          data.state.set('attempts', [...(data.state.get<number[]>('attempts') ?? []), data.attempt])
          if (blocking) await hold.promise
          return `finished on attempt ${data.attempt}`
        })
        .end()
      return flow
    }
    const ex = build(true).createExecution(closeWhenIdle)
    await ex.start()
    await until(() => ex.getState('attempts') !== undefined)
    const snap = ex.save()
    expect(snap.running).toHaveLength(1)
    ex.cancel('node died')
    hold.open()
    const restored = build(false).createExecution(closeWhenIdle).load(snap)
    expect(await restored.getResult({ timeout: 1000 })).toBe('finished on attempt 2')
    expect(restored.getState('attempts')).toStrictEqual([1, 2])
  })

  it("a child flow's waiting pause survives the move: the projected interrupt continues after the load", async () => {
    const build = () => {
      const child = new TriggerFlow({ name: 'legal' })
      child
        .to(async (data) => data.pauseFor({ type: 'approval', interruptId: 'legal-ok' }))
        .to(async (data) => `legal said ${data.input}`)
        .end()
      const parent = new TriggerFlow({ name: 'contract' })
      parent
        .to(child)
        .to(async (data) => `parent got ${data.input}`)
        .end()
      return parent
    }
    const ex = build().createExecution(closeWhenIdle)
    await ex.start()
    await until(() => ex.getStatus() === 'waiting')
    const rootId = ex.getPendingInterrupts()[0]!.id
    const snap = JSON.parse(JSON.stringify(ex.save()))
    ex.cancel('moved')
    const restored = build().createExecution(closeWhenIdle).load(snap)
    expect(restored.getPendingInterrupts().map((i) => i.id)).toStrictEqual([rootId])
    await restored.continueWith(rootId, 'yes')
    expect(await restored.getResult({ timeout: 1000 })).toBe('parent got legal said yes')
  })

  it('refuses a snapshot of another flow, another version or wiring this flow does not have', async () => {
    const ex = await halfReviewed()
    const snap = ex.save()
    ex.cancel('done with it')
    const other = new TriggerFlow({ name: 'other' })
    expect(() => other.createExecution().load(snap)).toThrow(/cannot load into flow "other"/)
    expect(() =>
      reviewFlow()
        .createExecution()
        .load({ ...snap, version: 99 as typeof SNAPSHOT_VERSION }),
    ).toThrow(/version 99/)
    const changed = new TriggerFlow({ name: 'review' })
    changed.to(async () => 'a different first step')
    let err: unknown
    try {
      changed.createExecution().load(snap)
    } catch (e) {
      err = e
    }
    expect(isFlowcastError(err, 'invalid_snapshot')).toBe(true)
    const used = reviewFlow().createExecution(closeWhenIdle)
    await used.start('x')
    expect(() => used.load(snap)).toThrow(/fresh execution/)
    used.cancel()
  })
})

describe('resumeRequestId', () => {
  it('a retried answer with the same id is a no-op, also after a load; the same id with another answer conflicts', async () => {
    const build = () => {
      const flow = new TriggerFlow({ name: 'idempotent-resume' })
      flow
        .to(async (data) => data.pauseFor({ type: 'approval', interruptId: 'approval' }))
        .to(async (data) => {
          data.state.append('resumes', data.input)
        })
      return flow
    }
    const ex = build().createExecution({ autoClose: false })
    await ex.start()
    await until(() => ex.getStatus() === 'waiting')
    await ex.continueWith('approval', { approved: true }, { resumeRequestId: 'resume-1' })
    await until(() => ex.getState('resumes') !== undefined)
    const saved = ex.save()
    expect(saved.interrupts[0]!.info).toMatchObject({ status: 'resumed', resumeRequestId: 'resume-1' })

    const restored = build().createExecution({ autoClose: false }).load(saved)
    await restored.continueWith('approval', { approved: true }, { resumeRequestId: 'resume-1' })
    const conflict = await restored
      .continueWith('approval', { approved: false }, { resumeRequestId: 'resume-1' })
      .catch((e: unknown) => e)
    expect(isFlowcastError(conflict, 'interrupt_not_waiting')).toBe(true)
    expect((conflict as Error).message).toContain('conflicting resumeRequestId')
    // Without an id a second answer is refused as before.
    await expect(restored.continueWith('approval', { approved: true })).rejects.toSatisfy((e) =>
      isFlowcastError(e, 'interrupt_not_waiting'),
    )
    expect(await restored.close()).toStrictEqual({ resumes: [{ approved: true }] })
    ex.cancel()
  })
})
