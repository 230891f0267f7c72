/**
 * Cursors that are not whole seqs: `getRuntimeStreamEvents` refuses a fractional or negative
 * `since` up front, and the log's `read(after)` stays correct for any real `after` (it floors),
 * never reading a fractional slot of its entries.
 */
import fc from 'fast-check'
import { describe, expect, it } from 'vitest'
import { isFlowcastError, RuntimeStreamLog, TriggerFlow } from '../../flows/index.ts'
import { closeWhenIdle, drain } from './util.ts'

function threeItems() {
  const flow = new TriggerFlow({ name: 'three' })
  flow.to(
    flow.chunk('put', async (data) => {
      for (const n of [1, 2, 3]) await data.putIntoStream(n)
      return 'ok'
    }),
  )
  return flow.createExecution(closeWhenIdle)
}

describe('getRuntimeStreamEvents since', () => {
  it.each([0.5, 2.5, -1, -0.5, Number.NaN, Number.POSITIVE_INFINITY])(
    'refuses since=%s with invalid_since, before starting anything',
    async (since) => {
      const ex = threeItems()
      const read = drain(ex.getRuntimeStreamEvents(undefined, { since, timeout: 100 }))
      await expect(read).rejects.toSatisfy((e: unknown) => isFlowcastError(e, 'invalid_since'))
      expect(ex.started).toBe(false)
    },
  )

  it('takes a whole since: the events after it, in order', async () => {
    const ex = threeItems()
    await ex.start(undefined)
    await ex.getResult({ timeout: 1000 })
    const after1 = await drain(ex.getRuntimeStreamEvents(undefined, { since: 1, timeout: 100 }))
    expect(after1.map((e) => ('seq' in e ? e.seq : -1))).toEqual([2, 3])
    const all = await drain(ex.getRuntimeStreamEvents(undefined, { since: 0, timeout: 100 }))
    expect(all.map((e) => ('seq' in e ? e.data : null))).toEqual([1, 2, 3])
  })
})

describe('RuntimeStreamLog.read with a real cursor', () => {
  it('reads after 2.5 from seq 3, and after a negative cursor from the start', () => {
    const log = new RuntimeStreamLog<number>()
    for (let n = 1; n <= 5; n++) log.append(n)
    expect(log.read(2.5).entries.map((e) => e.envelope.seq)).toEqual([3, 4, 5])
    expect(log.read(-0.5).entries.map((e) => e.envelope.seq)).toEqual([1, 2, 3, 4, 5])
    expect(log.read(4.999, 10).entries.map((e) => e.envelope.seq)).toEqual([5])
    expect(log.read(5.5).entries).toEqual([])
  })

  it('returns only entries with seq > after, in order, for any real after (property)', () => {
    const after = fc.oneof(
      fc.double({ min: -10, max: 70, noNaN: true }),
      fc.integer({ min: -10, max: 70 }),
      fc.constantFrom(Number.POSITIVE_INFINITY, Number.NEGATIVE_INFINITY),
    )
    fc.assert(
      fc.property(
        fc.integer({ min: 0, max: 60 }),
        fc.integer({ min: 1, max: 20 }),
        after,
        fc.oneof(fc.nat({ max: 8 }), fc.constant(Number.POSITIVE_INFINITY)),
        (count, maxEvents, cursor, limit) => {
          const log = new RuntimeStreamLog<number>({ maxEvents })
          for (let n = 1; n <= count; n++) log.append(n)
          const { gap, entries } = log.read(cursor, limit)
          const seqs = entries.map((e) => e.envelope.seq)
          // Every slot read is a real entry, after the cursor, consecutive and ascending.
          for (const e of entries) expect(e).toBeDefined()
          for (const s of seqs) expect(s).toBeGreaterThan(cursor)
          seqs.forEach((s, i) => {
            if (i > 0) expect(s).toBe(seqs[i - 1]! + 1)
          })
          // Exactly the retained seqs after the cursor, up to the limit.
          const retained = Array.from({ length: log.size }, (_, i) => log.firstSeq + i)
          const wanted = retained.filter((s) => s > cursor)
          expect(seqs).toEqual(wanted.slice(0, Math.min(wanted.length, limit)))
          // A gap names exactly the evicted seqs after the cursor.
          const firstWanted = Math.max(1, Math.floor(cursor) + 1)
          if (firstWanted < log.firstSeq && firstWanted <= log.lastSeq) {
            expect(gap).toEqual({ kind: 'gap', from: firstWanted, to: log.firstSeq - 1 })
          } else {
            expect(gap).toBeUndefined()
          }
        },
      ),
      { numRuns: 1000 },
    )
  })
})
