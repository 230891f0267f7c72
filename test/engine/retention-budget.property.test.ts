/**
 * The node-wide RetentionBudget over many logs, by property: after every step the budget's counts
 * equal what the logs hold and stay within its bounds; no open log loses an entry while a closed
 * one still holds any; every read is a gap then consecutive seqs up to the head, never a hole.
 */
import fc from 'fast-check'
import { describe, expect, it } from 'vitest'
import { RetentionBudget, RuntimeStreamLog } from '../../flows/index.ts'

const LOGS = 4

type Op =
  | { op: 'append'; log: number; size: number }
  | { op: 'close'; log: number }
  | { op: 'release'; log: number }

const opArb: fc.Arbitrary<Op> = fc.oneof(
  {
    weight: 12,
    arbitrary: fc.record({
      op: fc.constant('append' as const),
      log: fc.nat({ max: LOGS - 1 }),
      size: fc.nat({ max: 300 }),
    }),
  },
  { weight: 2, arbitrary: fc.record({ op: fc.constant('close' as const), log: fc.nat({ max: LOGS - 1 }) }) },
  {
    weight: 1,
    arbitrary: fc.record({ op: fc.constant('release' as const), log: fc.nat({ max: LOGS - 1 }) }),
  },
)

describe('RetentionBudget', () => {
  it('counts what the logs hold, stays within bounds, takes closed logs first and never leaves a hole', () => {
    fc.assert(
      fc.property(
        fc.array(opArb, { maxLength: 300 }),
        fc.integer({ min: 200, max: 3000 }),
        fc.integer({ min: 100, max: 3000 }),
        (ops, maxBytes, maxClosedBytes) => {
          const budget = new RetentionBudget({ maxBytes, maxClosedBytes })
          const logs = Array.from(
            { length: LOGS },
            () => new RuntimeStreamLog({ maxEvents: 20, maxBytes: 2000 }, budget),
          )
          const released = new Set<number>()
          for (const o of ops) {
            const log = logs[o.log]!
            if (o.op === 'append') {
              if (released.has(o.log)) continue
              const firstBefore = logs.map((l) => l.firstSeq)
              log.append({ pad: 'x'.repeat(o.size) })
              // Only the budget takes from the other logs: from an open one only once no closed one holds any.
              const openLost = logs.some((l, i) => i !== o.log && !l.closed && l.firstSeq > firstBefore[i]!)
              const closedHolds = logs.some((l, i) => !released.has(i) && l.closed && l.size > 0)
              if (openLost) expect(closedHolds).toBe(false)
            } else if (o.op === 'close') log.close('stopped')
            else {
              log.release()
              released.add(o.log)
            }
            let total = 0
            let closed = 0
            for (let i = 0; i < LOGS; i++) {
              if (released.has(i)) continue
              const l = logs[i]!
              total += l.retainedBytes
              if (l.closed) closed += l.retainedBytes
              const read = l.read(0)
              const first = read.entries[0]?.envelope.seq ?? l.lastSeq + 1
              if (first > 1) expect(read.gap).toEqual({ kind: 'gap', from: 1, to: first - 1 })
              expect(read.entries.map((e) => e.envelope.seq)).toEqual(read.entries.map((_, k) => first + k))
              if (read.entries.length > 0) expect(read.entries.at(-1)!.envelope.seq).toBe(l.lastSeq)
            }
            expect(budget.bytes).toBe(total)
            expect(budget.closedBytes).toBe(closed)
            expect(budget.bytes).toBeLessThanOrEqual(maxBytes)
            expect(budget.closedBytes).toBeLessThanOrEqual(Math.min(maxClosedBytes, maxBytes))
          }
        },
      ),
      { numRuns: 300 },
    )
  })
})
