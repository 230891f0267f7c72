/** Reading what a request carries: its JSON body and its integer query values. */
import { FlowcastError } from '@flowcast/protocol'
import type { Context } from 'hono'

/** The request's JSON body; `{}` when there is none. Throws `bad_request` when it is not JSON. */
export async function readJson(c: Context): Promise<unknown> {
  const text = await c.req.text()
  if (text.trim() === '') return {}
  try {
    return JSON.parse(text)
  } catch {
    throw new FlowcastError('bad_request', 'the body is not valid JSON')
  }
}

/** Parses a non-negative integer query value; undefined when absent, NaN when malformed. */
export function intParam(value: string | undefined): number | undefined {
  if (value === undefined || value === '') return undefined
  return /^\d{1,15}$/.test(value) ? Number(value) : Number.NaN
}
