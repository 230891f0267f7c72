/**
 * ExecutionOptions.aroundChunk: the hook a server instruments chunk runs through (tracing). It
 * wraps every chunk of the execution and of its child flows (with the top-level execution's id),
 * sees a chunk's failure as the rejection of `run`, and changes nothing of the result.
 */
import { describe, expect, it } from 'vitest'
import { type ChunkRun, FlowcastError, TriggerFlow } from '../../flows/index.ts'

/** A recorder: every wrapped chunk with how it settled. */
function recorder() {
  const runs: (ChunkRun & { outcome: string })[] = []
  const aroundChunk = async <T>(chunk: ChunkRun, run: () => Promise<T>): Promise<T> => {
    try {
      const value = await run()
      runs.push({ ...chunk, outcome: 'ok' })
      return value
    } catch (err) {
      runs.push({ ...chunk, outcome: err instanceof FlowcastError ? err.code : 'error' })
      throw err
    }
  }
  return { runs, aroundChunk }
}

describe('aroundChunk', () => {
  it('wraps each chunk, child flows included, with the top-level execution id', async () => {
    const child = new TriggerFlow({ name: 'child' })
    child.to(child.chunk('inner', async (data) => `inner(${data.value})`))
    const flow = new TriggerFlow({ name: 'parent' })
    flow
      .to(flow.chunk('first', async () => 1))
      .toSubFlow(child)
      .to(flow.chunk('last', (data) => data.setResult(`last(${data.value})`)))
    const { runs, aroundChunk } = recorder()
    const ex = flow.createExecution({ aroundChunk, autoCloseTimeout: 0 })
    await ex.start()
    expect(await ex.getResult({ timeout: 2000 })).toMatch(/^last\(/)
    expect(runs).toEqual([
      { executionId: ex.id, flow: 'parent', chunk: 'first', outcome: 'ok' },
      { executionId: ex.id, flow: 'child', chunk: 'inner', outcome: 'ok' },
      { executionId: ex.id, flow: 'parent', chunk: 'last', outcome: 'ok' },
    ])
  })

  it("sees a chunk's throw (sync or async) as the rejection of run, and the execution fails as without it", async () => {
    const flow = new TriggerFlow({ name: 'failing' })
    flow.to(
      flow.chunk('boom', () => {
        throw new FlowcastError('bad_request', 'no')
      }),
    )
    const { runs, aroundChunk } = recorder()
    const ex = flow.createExecution({ aroundChunk, autoCloseTimeout: 0 })
    await ex.start()
    await expect(ex.getResult({ timeout: 2000 })).rejects.toMatchObject({ code: 'execution_failed' })
    expect(ex.getStatus()).toBe('failed')
    expect(runs).toEqual([{ executionId: ex.id, flow: 'failing', chunk: 'boom', outcome: 'bad_request' }])
  })
})
