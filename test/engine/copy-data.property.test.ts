import fc from 'fast-check'
import { describe, expect, it } from 'vitest'
import { copyData } from '../../flows/triggerflow/internal/copy-data.ts'

/** What structuredClone gives for `value`, or the name of the error it throws. */
function cloneOrError(copy: (v: unknown) => unknown, value: unknown): unknown {
  try {
    return { value: copy(value) }
  } catch (err) {
    return { error: (err as Error).name }
  }
}

describe('copyData', () => {
  it('copies any JSON-like tree as structuredClone does, and shares nothing with it', () => {
    fc.assert(
      fc.property(fc.jsonValue(), fc.anything(), (json, any) => {
        for (const value of [json, any, { result: json }, [any, json]]) {
          const copy = copyData(value)
          expect(cloneOrError(copyData, value)).toStrictEqual(cloneOrError(structuredClone, value))
          if (typeof value === 'object' && value !== null) expect(copy).not.toBe(value)
        }
      }),
      { numRuns: 500 },
    )
  })

  it('keeps what only structuredClone keeps: shared and cyclic references, holes, extra keys, classes', () => {
    const shared = { n: 1 }
    const pair = copyData({ a: shared, b: shared })
    expect(pair.a).toBe(pair.b)
    const cyclic: Record<string, unknown> = { n: 1 }
    cyclic.self = cyclic
    const c = copyData(cyclic)
    expect(c.self).toBe(c)
    // biome-ignore lint/suspicious/noSparseArray: the hole is the point
    const holes = copyData([1, , 3])
    expect(1 in holes).toBe(false)
    const extra = Object.assign([1, 2], { note: 'x' })
    expect((copyData(extra) as unknown as { note: string }).note).toBe('x')
    const date = new Date(5)
    expect(copyData({ at: date }).at).toStrictEqual(date)
    expect(copyData({ m: new Map([[1, 2]]) }).m.get(1)).toBe(2)
    const own = JSON.parse('{"__proto__": {"x": 1}}') as Record<string, unknown>
    const ownCopy = copyData(own)
    expect(Object.hasOwn(ownCopy, '__proto__')).toBe(true)
    expect(Object.getPrototypeOf(ownCopy)).toBe(Object.prototype)
    const deep = Array.from({ length: 100 }, (_, i) => ({ i }))
    expect(copyData(deep)).toStrictEqual(deep)
  })

  it('throws what structuredClone throws for a function or a symbol inside', () => {
    expect(() => copyData({ f: () => 1 })).toThrow(expect.objectContaining({ name: 'DataCloneError' }))
    expect(() => copyData([Symbol('s')])).toThrow(expect.objectContaining({ name: 'DataCloneError' }))
    expect(() => copyData(() => 1)).toThrow(expect.objectContaining({ name: 'DataCloneError' }))
  })
})
