/**
 * A small structural checker for the frames the server sends: a few combinators whose TypeScript
 * types are inferred like a schema library's, at a fraction of the bytes. The client SDK checks
 * every frame it receives with it; zod stays on the server's side, where inbound frames need its
 * messages, so a browser bundle never carries zod.
 */

/** Checks a value: null when it fits, otherwise what was expected (and where, for objects). */
export type Check<T> = ((value: unknown) => string | null) & { readonly __type?: T; readonly optional?: true }

/** The type a check accepts. */
export type Infer<C> = C extends Check<infer T> ? T : never

type Shape = Record<string, Check<any>>
type OptionalKeys<S extends Shape> = { [K in keyof S]: S[K] extends { optional: true } ? K : never }[keyof S]
type Flat<T> = { [K in keyof T]: T[K] } & {}
/** The object type of a shape: optional checks become optional keys. */
export type ObjectOf<S extends Shape> = Flat<
  { [K in Exclude<keyof S, OptionalKeys<S>>]: Infer<S[K]> } & { [K in OptionalKeys<S>]?: Infer<S[K]> }
>

const test =
  <T>(ok: (v: unknown) => boolean, what: string): Check<T> =>
  (v) =>
    ok(v) ? null : `expected ${what}`

/** Any string. */
export const str: Check<string> = test((v) => typeof v === 'string', 'a string')
/** Any finite number. */
export const num: Check<number> = test(Number.isFinite, 'a number')
/** A safe integer >= 0 (seqs, counts). */
export const nat: Check<number> = test(
  (v) => Number.isSafeInteger(v) && (v as number) >= 0,
  'an integer >= 0',
)
/** A safe integer >= 1 (the seq of an event). */
export const pos: Check<number> = test(
  (v) => Number.isSafeInteger(v) && (v as number) >= 1,
  'an integer >= 1',
)
/** true or false. */
export const bool: Check<boolean> = test((v) => typeof v === 'boolean', 'a boolean')
/** Anything at all. */
export const any: Check<unknown> = () => null

/** Exactly one of `values`. */
export function oneOf<const L extends readonly (string | number)[]>(...values: L): Check<L[number]> {
  return test((v) => values.includes(v as L[number]), values.map((x) => JSON.stringify(x)).join(' | '))
}

/** `check`, or the key may be absent (undefined). */
export function opt<T>(check: Check<T>): Check<T | undefined> & { optional: true } {
  return Object.assign((v: unknown) => (v === undefined ? null : check(v)), { optional: true as const })
}

/** Either check. */
export function either<A, B>(a: Check<A>, b: Check<B>): Check<A | B> {
  return (v) => (a(v) === null ? null : b(v))
}

/** An array of at least `min` items, each passing `item`. */
export function arr<T>(item: Check<T>, min = 0): Check<T[]> {
  return (v) => {
    if (!Array.isArray(v) || v.length < min) return `expected an array of at least ${min}`
    for (let i = 0; i < v.length; i++) {
      const e = item(v[i])
      if (e) return `at ${i}: ${e}`
    }
    return null
  }
}

/** An object with (at least) the keys of `shape`; other keys pass through. */
export function obj<S extends Shape>(shape: S): Check<ObjectOf<S>> {
  return (v) => {
    if (typeof v !== 'object' || v === null || Array.isArray(v)) return 'expected an object'
    for (const key in shape) {
      const e = shape[key]!((v as Record<string, unknown>)[key])
      if (e) return `at ${key}: ${e}`
    }
    return null
  }
}
