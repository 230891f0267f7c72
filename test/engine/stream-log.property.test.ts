import fc from 'fast-check'
import { describe, expect, it } from 'vitest'
import { RuntimeStreamLog } from '../../flows/index.ts'

type Op = { op: 'append'; size: number } | { op: 'close' } | { op: 'read'; consumer: number; limit: number }

const opArb: fc.Arbitrary<Op> = fc.oneof(
  { weight: 6, arbitrary: fc.record({ op: fc.constant('append' as const), size: fc.nat({ max: 60 }) }) },
  { weight: 1, arbitrary: fc.record({ op: fc.constant('close' as const) }) },
  {
    weight: 5,
    arbitrary: fc.record({
      op: fc.constant('read' as const),
      consumer: fc.nat({ max: 2 }),
      limit: fc.oneof(fc.nat({ max: 4 }), fc.constant(Number.POSITIVE_INFINITY)),
    }),
  },
)

interface Consumer {
  cursor: number
  seen: number[]
  gaps: number[]
}

/** One read as a consumer does it, checking each answer against the log's state at that moment. */
function readOnce(log: RuntimeStreamLog<{ n: number; pad: string }>, c: Consumer, limit: number): number {
  const firstBefore = log.firstSeq
  const { gap, entries } = log.read(c.cursor, limit)
  let expected = c.cursor + 1
  if (gap) {
    // A gap starts right after the cursor, ends right before what is retained, and only names evicted seqs.
    expect(gap.from).toBe(expected)
    expect(gap.to).toBeGreaterThanOrEqual(gap.from)
    expect(gap.to).toBe(firstBefore - 1)
    for (let s = gap.from; s <= gap.to; s++) c.gaps.push(s)
    c.cursor = gap.to
    expected = gap.to + 1
  }
  for (const entry of entries) {
    expect(entry.envelope.seq).toBe(expected)
    expect(entry.envelope.data.n).toBe(entry.envelope.seq)
    expect(JSON.parse(entry.json)).toStrictEqual(entry.envelope)
    c.seen.push(entry.envelope.seq)
    c.cursor = entry.envelope.seq
    expected++
  }
  return entries.length + (gap ? 1 : 0)
}

describe('runtime stream log (property)', () => {
  it('gives every consumer strictly increasing seqs and announces each hole by exactly one gap', () => {
    fc.assert(
      fc.property(
        fc.array(opArb, { maxLength: 120 }),
        fc.integer({ min: 1, max: 6 }),
        fc.integer({ min: 40, max: 400 }),
        (ops, maxEvents, maxBytes) => {
          const log = new RuntimeStreamLog<{ n: number; pad: string }>({ maxEvents, maxBytes })
          const consumers: Consumer[] = [0, 1, 2].map(() => ({ cursor: 0, seen: [], gaps: [] }))
          for (const o of ops) {
            if (o.op === 'append') {
              const before = log.lastSeq
              const entry = log.append({ n: before + 1, pad: 'x'.repeat(o.size) })
              if (log.closed && entry === undefined) expect(log.lastSeq).toBe(before)
              else expect(entry?.envelope.seq).toBe(before + 1)
              // Retention holds after every append, except that the newest item is always kept.
              expect(log.size).toBeLessThanOrEqual(maxEvents)
              if (log.size > 1) expect(log.retainedBytes).toBeLessThanOrEqual(maxBytes)
              expect(log.firstSeq + log.size - 1).toBe(log.lastSeq)
            } else if (o.op === 'close') {
              log.close('stopped')
            } else {
              readOnce(log, consumers[o.consumer]!, o.limit)
            }
          }
          const all = Array.from({ length: log.lastSeq }, (_, i) => i + 1)
          for (const c of consumers) {
            while (readOnce(log, c, 3) > 0) {}
            // Seen and gapped together are exactly 1..lastSeq, each once, in order.
            expect([...c.seen, ...c.gaps].sort((a, b) => a - b)).toStrictEqual(all)
            expect(c.seen).toStrictEqual([...c.seen].sort((a, b) => a - b))
            expect(new Set(c.gaps).size).toBe(c.gaps.length)
            // Whatever is still retained was seen, never skipped.
            for (let s = log.firstSeq; s <= log.lastSeq; s++) expect(c.seen).toContain(s)
          }
        },
      ),
      { numRuns: 400 },
    )
  })

  it('never invents a gap for a cursor at or past the head, nor for a negative cursor on a full log', () => {
    const log = new RuntimeStreamLog<number>({ maxEvents: 3 })
    for (let i = 1; i <= 2; i++) log.append(i)
    expect(log.read(-1)).toStrictEqual({ entries: log.read(0).entries })
    for (let i = 3; i <= 10; i++) log.append(i)
    expect(log.read(10)).toStrictEqual({ entries: [] })
    expect(log.read(99)).toStrictEqual({ entries: [] })
    expect(log.read(-5).gap).toStrictEqual({ kind: 'gap', from: 1, to: 7 })
  })
})
