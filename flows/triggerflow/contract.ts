/**
 * Flow contracts: optional zod schemas for the input, the stream items and the result, from
 * which the types of `data.input`, `putIntoStream` and `getResult` are inferred.
 */

import { FlowcastError, type FlowcastErrorCode } from '@flowcast/protocol'
import type { z } from 'zod'

export interface FlowContract {
  input?: z.ZodType
  stream?: z.ZodType
  result?: z.ZodType
}

type Out<S, Fallback> = S extends z.ZodType ? z.output<S> : Fallback

export type InputOf<C extends FlowContract> = Out<C['input'], unknown>
export type StreamOf<C extends FlowContract> = Out<C['stream'], unknown>
export type ResultOf<C extends FlowContract> = Out<C['result'], unknown>
/** What a caller may send as input (before the schema's defaults apply): the type of an example input. */
export type InputArgOf<C extends FlowContract> = C['input'] extends z.ZodType ? z.input<C['input']> : unknown

export type { FlowTypeInfo } from '@flowcast/protocol'

/** Parses `value` with `schema` (when there is one) or throws a FlowcastError naming the flow and the failing path. */
export function checkContract<T>(
  schema: z.ZodType | undefined,
  value: unknown,
  flowName: string,
  what: string,
  code: FlowcastErrorCode,
): T {
  if (!schema) return value as T
  const parsed = schema.safeParse(value)
  if (parsed.success) return parsed.data as T
  const issue = parsed.error.issues[0]
  const path = issue && issue.path.length > 0 ? issue.path.map(String).join('.') : '(root)'
  throw new FlowcastError(
    code,
    `flow "${flowName}": ${what} does not match its contract at ${path}: ${issue?.message ?? 'invalid'}`,
    { details: parsed.error.issues },
  )
}
