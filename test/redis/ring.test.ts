/**
 * The doorbell's message (server/brokers/redis/ring.ts) on its own: what the writer builds is what
 * a follower reads back, entries are carried only with a known `from`, within the byte budget and
 * free of line breaks, and a malformed message is never half-applied beyond the point it breaks.
 */
import { describe, expect, it } from 'vitest'
import { forEachRung, RingBuilder, type Rung } from '../../server/brokers/redis/ring.ts'

function read(message: string, wanted: (key: string) => boolean = () => true): Rung[] {
  const out: Rung[] = []
  forEachRung(Buffer.from(message), wanted, (r) => out.push(r))
  return out
}

describe('redis: the doorbell message', () => {
  it('carries the entries of logs with a known top before the batch, and names the others', () => {
    const ring = new RingBuilder(1024)
    ring.add('p:x:a:log', '3-0', '1-0', ['2-0', 'e', '{"seq":2,"s":"a b"}', '3-0', 'e', '{"seq":3}'])
    ring.add('p:x:b:log', '7-1', undefined, [])
    ring.add('p:x:c:log', '4-2', '4-0', [
      '4-1',
      's',
      'completed',
      '4-2',
      'c',
      '{"reason":"completed","lastSeq":4}',
    ])
    expect(read(ring.message())).toEqual([
      {
        key: 'p:x:a:log',
        from: { seq: 1, sub: 0 },
        top: { seq: 3, sub: 0 },
        records: [
          { id: { seq: 2, sub: 0 }, fields: { e: '{"seq":2,"s":"a b"}' } },
          { id: { seq: 3, sub: 0 }, fields: { e: '{"seq":3}' } },
        ],
      },
      { key: 'p:x:b:log', from: undefined, top: { seq: 7, sub: 1 }, records: [] },
      {
        key: 'p:x:c:log',
        from: { seq: 4, sub: 0 },
        top: { seq: 4, sub: 2 },
        records: [
          { id: { seq: 4, sub: 1 }, fields: { s: 'completed' } },
          { id: { seq: 4, sub: 2 }, fields: { c: '{"reason":"completed","lastSeq":4}' } },
        ],
      },
    ])
    // A follower of b only: a and c are skipped, b still read correctly after them.
    expect(read(ring.message(), (k) => k === 'p:x:b:log').map((r) => r.key)).toEqual(['p:x:b:log'])
  })

  it('names a log without its entries past the budget or when a value has a line break; never a key with one', () => {
    const ring = new RingBuilder(40)
    ring.add('k1', '1-0', '0-0', ['1-0', 'e', 'x'.repeat(20)]) // 27 bytes: fits
    ring.add('k2', '2-0', '1-0', ['2-0', 'e', 'y'.repeat(20)]) // would pass 40
    ring.add('k3', '1-0', '0-0', ['1-0', 'e', 'a\nb'])
    ring.add('k\n4', '1-0', '0-0', ['1-0', 'e', 'z'])
    ring.add('k5', '1-0', '0-0', ['1-0', 'e', 'w']) // 7 bytes: still fits what is left
    const rungs = read(ring.message())
    expect(rungs.map((r) => [r.key, r.records.length, r.from === undefined])).toEqual([
      ['k1', 1, false],
      ['k2', 0, true],
      ['k3', 0, true],
      ['k5', 1, false],
    ])
    // A zero budget only names.
    const none = new RingBuilder(0)
    none.add('k1', '1-0', '0-0', ['1-0', 'e', 'x'])
    expect(read(none.message())).toEqual([
      { key: 'k1', from: undefined, top: { seq: 1, sub: 0 }, records: [] },
    ])
  })

  it('stops at the first malformed log', () => {
    expect(read('k1\n- 1-0 0\nk2\nnot a header\nk3\n- 1-0 0').map((r) => r.key)).toEqual(['k1'])
    expect(read('k1\n0-0 1-0 5\n1-0 e x').map((r) => r.key)).toEqual([])
    expect(read('k1\n0-0 1-0 1\nno-spaces').map((r) => r.key)).toEqual([])
    expect(read('')).toEqual([])
  })
})
