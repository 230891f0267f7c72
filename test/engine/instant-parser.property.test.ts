/**
 * Property tests of the strict incremental JSON parser. The oracle is a serializer written here
 * that records where every value starts and ends in the text it writes (with random whitespace
 * and escapes), so the expected nodes of any prefix and the expected failure position of any
 * broken text are known without parsing; JSON.parse confirms each text is valid or invalid.
 */
import fc from 'fast-check'
import { describe, expect, it } from 'vitest'
import { FlowcastError } from '../../flows/index.ts'
import { InstantJsonParser } from '../../flows/instant/json-parser.ts'
import type { InstantNode, NodePath } from '../../flows/instant/node.ts'

interface Span {
  path: NodePath
  start: number
  /** Index just past the value's last character. */
  end: number
  kind: 'string' | 'number' | 'literal' | 'object' | 'array'
  /** Containers: positions of their separating commas; objects: where each key's opening quote is. */
  commas: number[]
  keyStarts: number[]
  size: number
}

/** Writes `value` as JSON with whitespace and escapes drawn from `choices`; returns the text and every value's span (post-order). */
function write(value: unknown, choices: number[]): { text: string; spans: Span[] } {
  let text = ''
  let c = 0
  const pick = (n: number) => choices[c++ % choices.length]! % n
  const ws = () => {
    text += ['', '', '', ' ', '\n', '\t ', '\r\n  '][pick(7)]!
  }
  const spans: Span[] = []
  const str = (s: string) => {
    text += '"'
    for (const ch of s) {
      const code = ch.charCodeAt(0)
      if (ch === '"' || ch === '\\') text += `\\${ch}`
      else if (code < 32 || pick(8) === 0)
        text += [...ch].map((u) => `\\u${u.charCodeAt(0).toString(16).padStart(4, '0')}`).join('')
      else if (ch === '\n' || (ch === '/' && pick(2) === 0)) text += ch === '/' ? '\\/' : '\\n'
      else text += ch
    }
    text += '"'
  }
  const visit = (v: unknown, path: NodePath) => {
    const start = text.length
    const span: Span = { path, start, end: 0, kind: 'literal', commas: [], keyStarts: [], size: 0 }
    if (typeof v === 'string') {
      span.kind = 'string'
      str(v)
    } else if (typeof v === 'number') {
      span.kind = 'number'
      text += JSON.stringify(v)
    } else if (v === null || typeof v === 'boolean') {
      text += JSON.stringify(v)
    } else if (Array.isArray(v)) {
      span.kind = 'array'
      span.size = v.length
      text += '['
      v.forEach((item, i) => {
        if (i > 0) {
          span.commas.push(text.length)
          text += ','
        }
        ws()
        visit(item, [...path, i])
        ws()
      })
      text += ']'
    } else {
      span.kind = 'object'
      const entries = Object.entries(v as object)
      span.size = entries.length
      text += '{'
      entries.forEach(([k, item], i) => {
        if (i > 0) {
          span.commas.push(text.length)
          text += ','
        }
        ws()
        span.keyStarts.push(text.length)
        str(k)
        ws()
        text += ':'
        ws()
        visit(item, [...path, k])
        ws()
      })
      text += '}'
    }
    span.end = text.length
    spans.push(span)
  }
  ws()
  visit(value, [])
  ws()
  return { text, spans }
}

/** Feeds `text` in pieces of the sizes in `cuts` (cycled); collects every reported node. */
function feed(parser: InstantJsonParser, text: string, cuts: number[]): InstantNode[] {
  const nodes: InstantNode[] = []
  for (let i = 0, c = 0; i < text.length; ) {
    const n = cuts[c++ % cuts.length]!
    nodes.push(...parser.push(text.slice(i, i + n)))
    i += n
  }
  return nodes
}

/** The decoded text of a string whose raw prefix (after the opening quote) is `raw`, a trailing unfinished escape left out. */
function decodedPrefix(raw: string): string {
  const cut = raw.match(/\\(u[0-9a-fA-F]{0,3})?$/)
  // An even run of backslashes before the match means the last one is itself escaped.
  const trimmed =
    cut && raw.slice(0, cut.index).match(/\\*$/)![0].length % 2 === 0 ? raw.slice(0, cut.index) : raw
  return JSON.parse(`"${trimmed}"`)
}

const key = (path: NodePath) => JSON.stringify(path)
const doc = fc.jsonValue({ maxDepth: 3 })
const choices = fc.array(fc.nat({ max: 1000 }), { minLength: 1, maxLength: 40 })
const cuts = fc.array(fc.integer({ min: 1, max: 9 }), { minLength: 1, maxLength: 8 })

function failure(text: string, cutSizes: number[]): FlowcastError | undefined {
  const parser = new InstantJsonParser()
  try {
    feed(parser, text, cutSizes)
    parser.end()
    return undefined
  } catch (err) {
    if (!(err instanceof FlowcastError)) throw err
    return err
  }
}

describe('strict incremental JSON parser', () => {
  it('every prefix of valid JSON gives exactly the nodes that prefix determines, in order', () => {
    fc.assert(
      fc.property(doc, choices, cuts, (value, ch, cutSizes) => {
        const { text, spans } = write(value, ch)
        expect(JSON.parse(text)).toStrictEqual(JSON.parse(JSON.stringify(value)))
        const step = Math.max(1, Math.floor(text.length / 25))
        for (
          let k = 0;
          k <= text.length;
          k += k + step > text.length && k < text.length ? text.length - k : step
        ) {
          const nodes = feed(new InstantJsonParser(), text.slice(0, k), cutSizes)
          // Complete: every value whose text is whole; a number only once a character follows it.
          const expected = spans.filter((s) => (s.kind === 'number' ? s.end < k : s.end <= k))
          const complete = nodes.filter((n) => n.isComplete)
          expect(complete.map((n) => key(n.path))).toStrictEqual(expected.map((s) => key(s.path)))
          complete.forEach((n, i) => {
            const s = expected[i]!
            expect(n.value).toStrictEqual(JSON.parse(text.slice(s.start, s.end)))
          })
          // Partial: each string being written shows what its text so far decodes to.
          for (const s of spans) {
            const own = nodes.filter((n) => key(n.path) === key(s.path))
            if (s.kind !== 'string') {
              expect(own.every((n) => n.isComplete)).toBe(true)
              continue
            }
            expect(own.map((n) => n.delta).join('')).toBe(own.at(-1)?.value ?? '')
            if (s.start < k && k < s.end) {
              const soFar = decodedPrefix(text.slice(s.start + 1, k))
              if (soFar === '') expect(own).toStrictEqual([])
              else expect(own.at(-1)).toMatchObject({ value: soFar, isComplete: false })
            }
          }
          const known = new Set(spans.map((s) => key(s.path)))
          for (const n of nodes) expect(known.has(key(n.path))).toBe(true)
        }
        // The whole text: the document, the root last (a bare number at the root completes at end()).
        const parser = new InstantJsonParser()
        const nodes = feed(parser, text, cutSizes)
        const end = parser.end()
        expect(end.value).toStrictEqual(JSON.parse(text))
        expect([...nodes, ...end.nodes].at(-1)).toMatchObject({ path: [], isComplete: true })
      }),
      { numRuns: 200 },
    )
  })

  type Mutation = (text: string, spans: Span[], n: number) => { text: string; at: number } | undefined
  const containers = (spans: Span[]) => spans.filter((s) => s.kind === 'object' || s.kind === 'array')
  const pickOf = <T>(list: T[], n: number) => (list.length === 0 ? undefined : list[n % list.length])
  const insert = (text: string, at: number, what: string) => text.slice(0, at) + what + text.slice(at)
  const mutations: Record<string, Mutation> = {
    'trailing comma': (text, spans, n) => {
      const s = pickOf(containers(spans), n)
      if (!s) return undefined
      // `[1,]` fails at the bracket; `[,]` at the comma.
      return { text: insert(text, s.end - 1, ','), at: s.size === 0 ? s.end - 1 : s.end }
    },
    'missing comma': (text, spans, n) => {
      const s = pickOf(
        containers(spans).filter((c) => c.commas.length > 0),
        n,
      )
      if (!s) return undefined
      const i = n % s.commas.length
      const comma = s.commas[i]!
      const next =
        s.kind === 'object'
          ? s.keyStarts[i + 1]!
          : spans.find(
              (x) =>
                x.path.length === s.path.length + 1 &&
                x.path.at(-1) === i + 1 &&
                key(x.path.slice(0, -1)) === key(s.path),
            )!.start
      return { text: `${text.slice(0, comma)} ${text.slice(comma + 1)}`, at: next }
    },
    'leading comma': (text, spans, n) => {
      const s = pickOf(containers(spans), n)
      return s && { text: insert(text, s.start + 1, ','), at: s.start + 1 }
    },
    'text after the document': (text) => ({ text: `${text} ]`, at: text.length + 1 }),
    'raw control character in a string': (text, spans, n) => {
      const s = pickOf(
        spans.filter((x) => x.kind === 'string'),
        n,
      )
      return s && { text: insert(text, s.start + 1, '\n'), at: s.start + 1 }
    },
    'raw control character in a key': (text, spans, n) => {
      const s = pickOf(
        spans.filter((x) => x.keyStarts.length > 0),
        n,
      )
      return (
        s && {
          text: insert(text, s.keyStarts[n % s.keyStarts.length]! + 1, '\u0001'),
          at: s.keyStarts[n % s.keyStarts.length]! + 1,
        }
      )
    },
    'unknown escape': (text, spans, n) => {
      const s = pickOf(
        spans.filter((x) => x.kind === 'string'),
        n,
      )
      return s && { text: insert(text, s.start + 1, '\\x'), at: s.start + 2 }
    },
    'short unicode escape': (text, spans, n) => {
      const s = pickOf(
        spans.filter((x) => x.kind === 'string'),
        n,
      )
      return s && { text: insert(text, s.start + 1, '\\u12g4'), at: s.start + 5 }
    },
    'misspelt literal': (text, spans, n) => {
      const s = pickOf(
        spans.filter((x) => x.kind === 'literal'),
        n,
      )
      return s && { text: `${text.slice(0, s.end - 1)}x${text.slice(s.end)}`, at: s.end - 1 }
    },
    'leading zero': (text, spans, n) => {
      const s = pickOf(
        spans.filter((x) => x.kind === 'number' && text[x.start] !== '-'),
        n,
      )
      return s && { text: insert(text, s.start, '0'), at: s.start + 1 }
    },
    'wrong closing bracket': (text, spans, n) => {
      const s = pickOf(containers(spans), n)
      return (
        s && {
          text: `${text.slice(0, s.end - 1)}${s.kind === 'array' ? '}' : ']'}${text.slice(s.end)}`,
          at: s.end - 1,
        }
      )
    },
    'text cut short': (text, _spans, n) => {
      const k = n % text.length
      const cut = text.slice(0, k)
      try {
        JSON.parse(cut)
        return undefined // a prefix that is itself a document (`12` of `123`)
      } catch {
        return { text: cut, at: k }
      }
    },
  }

  it.each(Object.keys(mutations))('invalid JSON fails at the right position: %s', (name) => {
    const mutate = mutations[name]!
    let tried = 0
    fc.assert(
      fc.property(doc, choices, cuts, fc.nat(), (value, ch, cutSizes, n) => {
        const { text, spans } = write(value, ch)
        const bad = mutate(text, spans, n)
        if (!bad) return
        tried++
        expect(() => JSON.parse(bad.text)).toThrow(SyntaxError)
        const err = failure(bad.text, cutSizes)
        expect(err?.code).toBe('invalid_json')
        expect(err?.details).toStrictEqual({ position: bad.at })
        expect(err?.message).toContain(`at position ${bad.at}:`)
      }),
      { numRuns: 150 },
    )
    expect(tried).toBeGreaterThan(10)
  })

  it('accepts exactly what JSON.parse accepts, with the same value', () => {
    const token = fc.constantFrom(
      ...'[]{},:" 0123456789-+.eEtrufalsn\\x\n'.split(''),
      'true',
      'null',
      '"a"',
      '1.5e3',
    )
    fc.assert(
      fc.property(fc.array(token, { maxLength: 30 }), cuts, (tokens, cutSizes) => {
        const text = tokens.join('')
        let expected: { value: unknown } | undefined
        try {
          expected = { value: JSON.parse(text) }
        } catch {}
        const parser = new InstantJsonParser()
        let got: { value: unknown } | undefined
        try {
          feed(parser, text, cutSizes)
          got = { value: parser.end().value }
        } catch (err) {
          expect(err).toBeInstanceOf(FlowcastError)
        }
        expect(got).toStrictEqual(expected)
      }),
      { numRuns: 3000 },
    )
  })

  it.each([
    ['[1 2]', 3],
    ['{"a":1,}', 7],
    ['[,1]', 1],
    ['{"a" 1}', 5],
    ['[1,2', 4],
    ['', 0],
    ['01', 1],
    ['"a\tb"', 2],
  ])('refuses %j at position %i', (text, at) => {
    expect(failure(text, [1])?.details).toStrictEqual({ position: at })
    expect(failure(text, [100])?.details).toStrictEqual({ position: at })
  })

  it('tells a key "a.b" from a key b inside a', () => {
    const parser = new InstantJsonParser()
    const nodes = [...parser.push('{"a.b":1,"a":{"b":2}}'), ...parser.end().nodes]
    expect(nodes.filter((n) => typeof n.value === 'number').map((n) => n.path)).toStrictEqual([
      ['a.b'],
      ['a', 'b'],
    ])
  })

  it('keeps a "__proto__" key as an own property, as JSON.parse does', () => {
    const parser = new InstantJsonParser()
    const text = '{"__proto__":{"polluted":true},"a":1}'
    for (const ch of text) parser.push(ch)
    const parsed = parser.end().value as Record<string, unknown>
    expect(parsed).toStrictEqual(JSON.parse(text))
    expect(Object.getPrototypeOf(parsed)).toBe(Object.prototype)
    expect(({} as Record<string, unknown>).polluted).toBeUndefined()
  })

  it('stays failed: a push after the error throws the same error', () => {
    const parser = new InstantJsonParser()
    const err = failure('[1 2]', [5])
    expect(() => {
      parser.push('[1 2]')
    }).toThrow(err!.message)
    expect(() => parser.push('3')).toThrow(err!.message)
  })
})
