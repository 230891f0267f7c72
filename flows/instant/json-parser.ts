/**
 * A strict incremental JSON parser (RFC 8259) for model output that arrives in pieces of any
 * size. Fed text in any split, it reports each string value as it grows and every value (leaf,
 * object, array, the root last) once it is whole, each with its path. Text that cannot become
 * JSON fails at the first character that rules it out, with that character's position counted
 * from the start of the whole text (UTF-16 code units, as JavaScript indexes strings) — so
 * `[1 2]`, `{"a":1,}` and `[,1]` fail, where a lenient parser would guess.
 *
 * Speed matters (a token stream is parsed while the model writes): one state machine over char
 * codes, string runs copied with one slice, no per-character allocation, no recursion (so no
 * nesting depth can overflow the stack).
 */
import { FlowcastError } from '@flowcast/protocol'
import type { InstantNode, NodePath } from './node.ts'

// Where the parser is between tokens, or which token it is inside.
const VALUE = 0 // a value must come (the root, after ':' or after ',' in an array)
const VALUE_OR_END = 1 // just after '['
const KEY_OR_END = 2 // just after '{'
const KEY = 3 // after ',' in an object
const COLON = 4 // after a key
const COMMA_OR_END = 5 // after a value inside a container
const DONE = 6 // after the root: only whitespace may follow
const STRING = 7
const ESCAPE = 8 // after a backslash in a string
const UNICODE = 9 // inside the four hex digits of \uXXXX
const NUMBER = 10
const LITERAL = 11 // inside true / false / null
const FAILED = 12

// Number grammar: -? (0 | [1-9][0-9]*) (. [0-9]+)? ([eE] [+-]? [0-9]+)?
const N_MINUS = 0 // after '-': a digit must come
const N_ZERO = 1 // a leading 0: no more integer digits
const N_INT = 2
const N_DOT = 3 // after '.': a digit must come
const N_FRAC = 4
const N_E = 5 // after 'e': a sign or a digit must come
const N_E_SIGN = 6 // after the exponent's sign: a digit must come
const N_EXP = 7

const EXPECTED: Record<number, string> = {
  [VALUE]: 'a value',
  [VALUE_OR_END]: "a value or ']'",
  [KEY_OR_END]: "a key or '}'",
  [KEY]: 'a key (a trailing comma is not JSON)',
  [COLON]: "':'",
  [DONE]: 'the end of the text',
  [STRING]: "the rest of a string and its closing '\"'",
  [ESCAPE]: 'an escape character',
  [UNICODE]: 'a hex digit',
  [LITERAL]: 'the rest of a literal',
}

const SHORT_ESCAPES: Record<number, string> = {
  34: '"',
  92: '\\',
  47: '/',
  98: '\b',
  102: '\f',
  110: '\n',
  114: '\r',
  116: '\t',
}

type Container = Record<string, unknown> | unknown[]

/** Parses one JSON document fed in pieces; throws FlowcastError `invalid_json` at the first impossible character. */
export class InstantJsonParser {
  #state = VALUE
  /** Open containers, outermost first, and the key or index of the child each is building. */
  readonly #containers: Container[] = []
  readonly #keys: NodePath = []
  /** Characters consumed by earlier pushes: positions are counted from the start of the text. */
  #offset = 0
  #out: InstantNode[] = []
  #root: { value: unknown } | undefined
  #error: FlowcastError | undefined

  // Token in progress.
  #isKey = false
  #buf = ''
  /** How much of the current string value was already reported. */
  #reported = 0
  #hex = 0
  #hexLeft = 0
  #num = ''
  #numState = N_MINUS
  #literal = ''
  #literalAt = 0

  /** Characters consumed so far. */
  get position(): number {
    return this.#offset
  }

  /** Feeds `text`; returns the nodes it completed, in order, then the string value being written if it grew. */
  push(text: string): InstantNode[] {
    if (this.#error) throw this.#error
    const out: InstantNode[] = []
    this.#out = out
    const n = text.length
    let i = 0
    while (i < n) {
      const state = this.#state
      if (state === STRING) {
        // The hot loop: copy a run of plain characters with one slice.
        let j = i
        let c = 0
        while (j < n) {
          c = text.charCodeAt(j)
          if (c === 34 || c === 92 || c < 32) break
          j++
        }
        if (j > i) this.#buf += text.slice(i, j)
        if (j === n) break
        if (c === 34) this.#endString()
        else if (c === 92) this.#state = ESCAPE
        else this.#fail(j, text, 'a control character inside a string must be escaped')
        i = j + 1
        continue
      }
      const c = text.charCodeAt(i)
      switch (state) {
        case NUMBER: {
          let j = i
          let ch = c
          for (;;) {
            const next = numberStep(this.#numState, ch)
            if (next < 0) break
            this.#numState = next
            if (++j === n) break
            ch = text.charCodeAt(j)
          }
          this.#num += text.slice(i, j)
          if (j === n) {
            i = n
            continue
          }
          const ns = this.#numState
          if (ns !== N_ZERO && ns !== N_INT && ns !== N_FRAC && ns !== N_EXP)
            this.#fail(j, text, ns === N_MINUS ? 'a digit after "-"' : 'a digit')
          this.#value(Number(this.#num))
          i = j // the terminating character is read again in the new state
          continue
        }
        case ESCAPE: {
          if (c === 117) {
            this.#state = UNICODE
            this.#hex = 0
            this.#hexLeft = 4
          } else {
            const esc = SHORT_ESCAPES[c]
            if (esc === undefined) this.#fail(i, text, EXPECTED[ESCAPE]!)
            this.#buf += esc
            this.#state = STRING
          }
          i++
          continue
        }
        case UNICODE: {
          const d = hexDigit(c)
          if (d < 0) this.#fail(i, text, EXPECTED[UNICODE]!)
          this.#hex = this.#hex * 16 + d
          if (--this.#hexLeft === 0) {
            this.#buf += String.fromCharCode(this.#hex)
            this.#state = STRING
          }
          i++
          continue
        }
        case LITERAL: {
          if (c !== this.#literal.charCodeAt(this.#literalAt)) this.#fail(i, text, `"${this.#literal}"`)
          if (++this.#literalAt === this.#literal.length) {
            const lit = this.#literal
            this.#value(lit === 'true' ? true : lit === 'false' ? false : null)
          }
          i++
          continue
        }
      }
      // Between tokens.
      if (c === 32 || c === 10 || c === 13 || c === 9) {
        i++
        continue
      }
      switch (state) {
        case VALUE:
          this.#startValue(c, i, text)
          break
        case VALUE_OR_END:
          if (c === 93) this.#close()
          else this.#startValue(c, i, text)
          break
        case KEY_OR_END:
        case KEY:
          if (c === 34) this.#startString(true)
          else if (c === 125 && state === KEY_OR_END) this.#close()
          else this.#fail(i, text, EXPECTED[state]!)
          break
        case COLON:
          if (c !== 58) this.#fail(i, text, EXPECTED[COLON]!)
          this.#state = VALUE
          break
        case COMMA_OR_END: {
          const top = this.#containers[this.#containers.length - 1]!
          const isArray = Array.isArray(top)
          if (c === 44) this.#state = isArray ? VALUE : KEY
          else if (c === (isArray ? 93 : 125)) this.#close()
          else this.#fail(i, text, isArray ? "',' or ']'" : "',' or '}'")
          break
        }
        default:
          this.#fail(i, text, EXPECTED[state] ?? 'nothing more')
      }
      i++
    }
    this.#offset += n
    const s = this.#state
    if (
      (s === STRING || s === ESCAPE || s === UNICODE) &&
      !this.#isKey &&
      this.#buf.length > this.#reported
    ) {
      out.push({
        path: this.#keys.slice(),
        value: this.#buf,
        delta: this.#buf.slice(this.#reported),
        isComplete: false,
      })
      this.#reported = this.#buf.length
    }
    return out
  }

  /**
   * Ends the text: returns the nodes this completes (a bare number at the root is only whole
   * here) and the document. Throws `invalid_json` when the text stops before the document does.
   */
  end(): { nodes: InstantNode[]; value: unknown } {
    if (this.#error) throw this.#error
    const out: InstantNode[] = []
    this.#out = out
    if (this.#state === NUMBER) {
      const ns = this.#numState
      if (ns === N_ZERO || ns === N_INT || ns === N_FRAC || ns === N_EXP) this.#value(Number(this.#num))
    }
    if (this.#state !== DONE || !this.#root) {
      const expected = this.#state === COMMA_OR_END ? "',' or the container's end" : EXPECTED[this.#state]
      this.#error = jsonError(this.#offset, `the text ended where JSON needs ${expected ?? 'more'}`)
      this.#state = FAILED
      throw this.#error
    }
    return { nodes: out, value: this.#root.value }
  }

  #startValue(c: number, i: number, text: string): void {
    if (c === 123) {
      this.#containers.push({})
      this.#keys.push('')
      this.#state = KEY_OR_END
    } else if (c === 91) {
      this.#containers.push([])
      this.#keys.push(0)
      this.#state = VALUE_OR_END
    } else if (c === 34) {
      this.#startString(false)
    } else if (c === 45 || (c >= 48 && c <= 57)) {
      this.#state = NUMBER
      this.#numState = c === 45 ? N_MINUS : c === 48 ? N_ZERO : N_INT
      this.#num = c === 45 ? '-' : String.fromCharCode(c)
    } else if (c === 116 || c === 102 || c === 110) {
      this.#state = LITERAL
      this.#literal = c === 116 ? 'true' : c === 102 ? 'false' : 'null'
      this.#literalAt = 1
    } else {
      this.#fail(i, text, 'a value')
    }
  }

  #startString(isKey: boolean): void {
    this.#state = STRING
    this.#isKey = isKey
    this.#buf = ''
    this.#reported = 0
  }

  #endString(): void {
    const s = this.#buf
    if (this.#isKey) {
      this.#keys[this.#keys.length - 1] = s
      this.#state = COLON
      return
    }
    this.#value(s, s.slice(this.#reported))
  }

  #close(): void {
    const container = this.#containers.pop()!
    this.#keys.pop()
    this.#value(container)
  }

  /** A value is whole: report it under its path, then attach it to its parent. */
  #value(value: unknown, delta?: string): void {
    const node: InstantNode = { path: this.#keys.slice(), value, isComplete: true }
    if (delta !== undefined) node.delta = delta
    this.#out.push(node)
    const depth = this.#containers.length
    if (depth === 0) {
      this.#root = { value }
      this.#state = DONE
      return
    }
    const parent = this.#containers[depth - 1]!
    if (Array.isArray(parent)) {
      parent.push(value)
      this.#keys[depth - 1] = parent.length
    } else {
      const key = this.#keys[depth - 1] as string
      // An own property, as JSON.parse makes it: a plain assignment to "__proto__" would set the
      // object's prototype instead of keeping the key — model output is untrusted.
      if (key === '__proto__')
        Object.defineProperty(parent, key, { value, writable: true, enumerable: true, configurable: true })
      else parent[key] = value
    }
    this.#state = COMMA_OR_END
  }

  #fail(i: number, text: string, expected: string): never {
    const ch = text[i]!
    const shown = ch.charCodeAt(0) < 32 ? `U+${ch.charCodeAt(0).toString(16).padStart(4, '0')}` : `'${ch}'`
    this.#error = jsonError(this.#offset + i, `expected ${expected}, found ${shown}`)
    this.#state = FAILED
    throw this.#error
  }
}

function jsonError(position: number, what: string): FlowcastError {
  return new FlowcastError('invalid_json', `invalid JSON at position ${position}: ${what}`, {
    details: { position },
  })
}

/** The number state after `c`, or -1 when `c` cannot continue the number. */
function numberStep(state: number, c: number): number {
  const digit = c >= 48 && c <= 57
  switch (state) {
    case N_MINUS:
      return c === 48 ? N_ZERO : digit ? N_INT : -1
    case N_ZERO:
      return c === 46 ? N_DOT : c === 101 || c === 69 ? N_E : -1
    case N_INT:
      return digit ? N_INT : c === 46 ? N_DOT : c === 101 || c === 69 ? N_E : -1
    case N_DOT:
      return digit ? N_FRAC : -1
    case N_FRAC:
      return digit ? N_FRAC : c === 101 || c === 69 ? N_E : -1
    case N_E:
      return digit ? N_EXP : c === 43 || c === 45 ? N_E_SIGN : -1
    default: // N_E_SIGN, N_EXP
      return digit ? N_EXP : -1
  }
}

function hexDigit(c: number): number {
  if (c >= 48 && c <= 57) return c - 48
  if (c >= 97 && c <= 102) return c - 87
  if (c >= 65 && c <= 70) return c - 55
  return -1
}
