import { describe, expect, it } from 'vitest'
import { FlushQueue } from '../../server/fanout/flush-queue.ts'
import { waitFor } from '../helpers/wait.ts'

const turn = () => new Promise<void>((resolve) => setImmediate(resolve))

describe('the end-of-turn flush queue', () => {
  it('flushes the rooms queued in one turn together, in order, and a room queued meanwhile on the next', async () => {
    const q = new FlushQueue()
    const log: string[] = []
    const late = { flushQueued: () => log.push('late') }
    const a = {
      flushQueued: () => {
        log.push('a')
        q.add(late)
      },
    }
    const b = { flushQueued: () => log.push('b') }
    q.add(a)
    q.add(b)
    expect(log).toEqual([])
    await waitFor(turn(), 5000, 'one turn')
    expect(log).toEqual(['a', 'b'])
    await waitFor(turn(), 5000, 'another turn')
    expect(log).toEqual(['a', 'b', 'late'])
    q.add(b)
    q.stop()
    await waitFor(turn(), 5000, 'a turn after stop')
    expect(log).toEqual(['a', 'b', 'late'])
  })
})
