/**
 * An incremental JSON parser for model output that arrives token by token. Fed text in any
 * split, it reports each string value as it grows (`complete: false`) and every value once it is
 * whole (`complete: true`), each with its path (`sections[1].heading`).
 */

/** One observation about a node of the document. */
export interface NodeUpdate {
  path: string
  value: unknown
  complete: boolean
}

type Frame =
  | { kind: 'object'; value: Record<string, unknown>; key: string | undefined; expectKey: boolean }
  | { kind: 'array'; value: unknown[] }

interface StringState {
  buf: string
  isKey: boolean
  escape: boolean
  unicode: string | undefined
}

const LITERAL = /[-+0-9.eEtruefalsn]/

/** Parses one JSON document fed in pieces; throws on text that cannot be JSON. */
export class IncrementalJsonParser {
  #stack: Frame[] = []
  #str: StringState | undefined
  #lit: string | undefined
  #root: { value: unknown } | undefined
  #out: NodeUpdate[] = []

  /** Feeds `text`; returns what it completed, then the in-progress string value if one grew. */
  push(text: string): NodeUpdate[] {
    this.#out = []
    const before = this.#str && !this.#str.isKey ? this.#str.buf : undefined
    for (const ch of text) this.#char(ch)
    if (this.#str && !this.#str.isKey && this.#str.buf !== before && this.#str.buf !== '') {
      this.#out.push({ path: this.#path(), value: this.#str.buf, complete: false })
    }
    return this.#out
  }

  /** Ends the input; returns the whole document (a trailing bare number is completed here). */
  end(): unknown {
    this.#out = []
    if (this.#lit !== undefined) this.#finishLiteral()
    if (!this.#root || this.#stack.length > 0 || this.#str) throw new SyntaxError('incomplete JSON document')
    return this.#root.value
  }

  #char(ch: string): void {
    const str = this.#str
    if (str) {
      this.#stringChar(str, ch)
      return
    }
    if (this.#lit !== undefined) {
      if (LITERAL.test(ch)) {
        this.#lit += ch
        return
      }
      this.#finishLiteral()
    }
    if (ch === ' ' || ch === '\n' || ch === '\r' || ch === '\t') return
    if (this.#root) throw new SyntaxError(`unexpected "${ch}" after the document`)
    const top = this.#stack.at(-1)
    switch (ch) {
      case '{':
        this.#stack.push({ kind: 'object', value: {}, key: undefined, expectKey: true })
        return
      case '[':
        this.#stack.push({ kind: 'array', value: [] })
        return
      case '"':
        this.#str = {
          buf: '',
          isKey: top?.kind === 'object' && top.expectKey,
          escape: false,
          unicode: undefined,
        }
        return
      case ':':
        if (top?.kind !== 'object' || top.key === undefined) throw new SyntaxError('unexpected ":"')
        return
      case ',':
        if (top?.kind === 'object') top.expectKey = true
        return
      case '}':
      case ']': {
        const frame = this.#stack.pop()
        if (!frame || (frame.kind === 'object') !== (ch === '}')) throw new SyntaxError(`unexpected "${ch}"`)
        this.#value(frame.value)
        return
      }
      default:
        if (!LITERAL.test(ch)) throw new SyntaxError(`unexpected "${ch}"`)
        this.#lit = ch
    }
  }

  #stringChar(str: StringState, ch: string): void {
    if (str.unicode !== undefined) {
      str.unicode += ch
      if (str.unicode.length === 4) {
        str.buf += String.fromCharCode(Number.parseInt(str.unicode, 16))
        str.unicode = undefined
      }
      return
    }
    if (str.escape) {
      str.escape = false
      if (ch === 'u') str.unicode = ''
      else str.buf += ({ n: '\n', t: '\t', r: '\r', b: '\b', f: '\f' } as Record<string, string>)[ch] ?? ch
      return
    }
    if (ch === '\\') {
      str.escape = true
      return
    }
    if (ch !== '"') {
      str.buf += ch
      return
    }
    this.#str = undefined
    const top = this.#stack.at(-1)
    if (str.isKey && top?.kind === 'object') {
      top.key = str.buf
      top.expectKey = false
    } else {
      this.#value(str.buf)
    }
  }

  #finishLiteral(): void {
    const text = this.#lit!
    this.#lit = undefined
    this.#value(JSON.parse(text))
  }

  /** A value is whole: report it under its path, then attach it to its parent. */
  #value(value: unknown): void {
    this.#out.push({ path: this.#path(), value, complete: true })
    const top = this.#stack.at(-1)
    if (!top) this.#root = { value }
    else if (top.kind === 'array') top.value.push(value)
    else if (top.key !== undefined) {
      // An own property, as JSON.parse makes it: a plain assignment to "__proto__" would set the
      // object's prototype (or be ignored) instead of keeping the key — model output is untrusted.
      Object.defineProperty(top.value, top.key, {
        value,
        writable: true,
        enumerable: true,
        configurable: true,
      })
      top.key = undefined
    }
  }

  /** The path of the value being built now (its parent has not attached it yet). */
  #path(): string {
    let path = ''
    for (const frame of this.#stack) {
      if (frame.kind === 'array') path += `[${frame.value.length}]`
      else if (frame.key !== undefined) path += path === '' ? frame.key : `.${frame.key}`
    }
    return path
  }
}
