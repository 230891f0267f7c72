import { afterEach, describe, expect, it, vi } from 'vitest'
import { TriggerFlow } from '../../flows/index.ts'
import { MemoryBroker } from '../../server/brokers/memory.ts'
import { DEFAULT_LIMITS } from '../../server/options.ts'
import { ExecutionRegistry } from '../../server/registry.ts'

const TTL = 300

function quick(): TriggerFlow<any> {
  const flow = new TriggerFlow({ name: 'quick' })
  flow.to(flow.chunk('done', async () => ({ ok: true }))).end()
  return flow
}

/** Starts one execution and waits (in microtasks, no timer) until it has finished. */
async function finished(registry: ExecutionRegistry, broker: MemoryBroker): Promise<string> {
  const { executionId } = await registry.start('quick', undefined)
  await broker.result(executionId, 0)
  for (let i = 0; i < 100 && (await broker.info(executionId))?.status !== 'completed'; i++) await null
  expect((await broker.info(executionId))?.status).toBe('completed')
  return executionId
}

describe('finished executions and their TTL', () => {
  afterEach(() => {
    vi.useRealTimers()
  })

  it('evicts each one when its own TTL has passed, not before, in the order they finished', async () => {
    vi.useFakeTimers({ toFake: ['setTimeout', 'clearTimeout', 'performance', 'Date'] })
    const broker = new MemoryBroker()
    const registry = new ExecutionRegistry(broker, [quick()], { ...DEFAULT_LIMITS, finishedTtlMs: TTL })
    const present = async (id: string) => (await broker.info(id)) !== undefined

    const a = await finished(registry, broker)
    await vi.advanceTimersByTimeAsync(100)
    const b = await finished(registry, broker)
    await vi.advanceTimersByTimeAsync(100)
    const c = await finished(registry, broker)

    await vi.advanceTimersByTimeAsync(TTL - 200 - 1)
    expect([await present(a), await present(b), await present(c)]).toEqual([true, true, true])
    await vi.advanceTimersByTimeAsync(1)
    expect([await present(a), await present(b), await present(c)]).toEqual([false, true, true])
    await vi.advanceTimersByTimeAsync(99)
    expect([await present(a), await present(b), await present(c)]).toEqual([false, true, true])
    await vi.advanceTimersByTimeAsync(1)
    expect([await present(a), await present(b), await present(c)]).toEqual([false, false, true])
    await vi.advanceTimersByTimeAsync(100)
    expect([await present(a), await present(b), await present(c)]).toEqual([false, false, false])
    // Nothing finished is left, so no timer is either; a later finish starts its own TTL.
    expect(vi.getTimerCount()).toBe(0)
    const d = await finished(registry, broker)
    await vi.advanceTimersByTimeAsync(TTL - 1)
    expect(await present(d)).toBe(true)
    await vi.advanceTimersByTimeAsync(1)
    expect(await present(d)).toBe(false)
    registry.close()
    await broker.close()
  })
})
