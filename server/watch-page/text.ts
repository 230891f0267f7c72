/** Text for people: shortened values, JSON that never throws, and what an error means to the user. */

/** `text` cut to `max` characters with an ellipsis. */
export function short(text: string, max: number): string {
  return text.length > max ? `${text.slice(0, max - 1)}…` : text
}

/** JSON of `value`, or its String() when it has none (undefined, a cycle, a BigInt). */
export function json(value: unknown): string {
  try {
    return JSON.stringify(value) ?? String(value)
  } catch {
    return String(value)
  }
}

/** The code of an error the SDK raised, if it has one. */
export function codeOf(err: unknown): string | undefined {
  const code = (err as { code?: unknown } | null)?.code
  return typeof code === 'string' ? code : undefined
}

/** Codes by which the server has said no for good: retrying cannot help. */
export function isRefusal(err: unknown): boolean {
  const code = codeOf(err)
  return code === 'unauthorized' || code === 'forbidden' || code === 'not_found'
}

/** What an error means to the person at the page. */
export function messageOf(err: unknown): string {
  const code = codeOf(err)
  if (code === 'unauthorized') return 'Not authorized: the API key or token is missing, wrong or expired.'
  if (code === 'forbidden') return 'Forbidden: this token does not allow that.'
  const message = (err as { message?: unknown } | null)?.message
  return typeof message === 'string' ? message : String(err)
}
