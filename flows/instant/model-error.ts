/**
 * What a failed model call becomes: one FlowcastError `model_error` whose details say what
 * failed (`http` with the provider's status, `connection` dropped mid-answer, `malformed` chunk,
 * `schema`: an answer that is JSON but not the shape asked for,
 * `provider` error payload), on which attempt, and whether a retry may help. It reads the AI
 * SDK's error shapes by their fields (statusCode, name), so this file imports nothing of `ai`.
 */
import { FlowcastError, isFlowcastError } from '@flowcast/protocol'

export type ModelFailureKind = 'http' | 'connection' | 'malformed' | 'provider' | 'schema'

export interface ModelErrorDetails {
  kind: ModelFailureKind
  /** The provider's HTTP status, where it answered with one. */
  status?: number
  attempt: number
  /** True for 408, 409, 429, 5xx, a dropped connection and a malformed chunk. */
  retryable: boolean
  /** Milliseconds the provider asked to wait (`retry-after`), if it did. */
  retryAfterMs?: number
}

interface ApiCallErrorShape {
  name: string
  message: string
  statusCode?: number
  responseHeaders?: Record<string, string>
  cause?: unknown
}

const RETRYABLE_STATUS = new Set([408, 409, 429])

function retryAfterMs(headers: Record<string, string> | undefined): number | undefined {
  const raw = headers?.['retry-after']
  if (raw === undefined) return undefined
  const seconds = Number(raw)
  if (Number.isFinite(seconds) && seconds >= 0) return seconds * 1000
  const at = Date.parse(raw)
  return Number.isNaN(at) ? undefined : Math.max(0, at - Date.now())
}

/** Turns whatever a model call threw or reported into a `model_error` (FlowcastErrors pass through). */
export function toModelError(err: unknown, attempt: number): FlowcastError {
  if (isFlowcastError(err)) return err
  const e = err as Partial<ApiCallErrorShape> | undefined
  const name = typeof e?.name === 'string' ? e.name : ''
  const message = e?.message ?? String(err)
  let details: ModelErrorDetails
  if (name === 'AI_APICallError' && typeof e?.statusCode === 'number' && e.statusCode >= 400) {
    const status = e.statusCode
    details = { kind: 'http', status, attempt, retryable: status >= 500 || RETRYABLE_STATUS.has(status) }
    const wait = retryAfterMs(e.responseHeaders)
    if (wait !== undefined) details.retryAfterMs = wait
  } else if (
    name === 'AI_APICallError' ||
    (err instanceof TypeError && /terminated|fetch failed/.test(message))
  ) {
    // The provider answered 200 and the body broke off: the socket closed mid-answer.
    details = { kind: 'connection', attempt, retryable: true }
    if (typeof e?.statusCode === 'number') details.status = e.statusCode
  } else if (name === 'AI_JSONParseError' || name === 'AI_TypeValidationError') {
    details = { kind: 'malformed', attempt, retryable: true }
  } else {
    details = { kind: 'provider', attempt, retryable: false }
  }
  const what =
    details.kind === 'http'
      ? `HTTP ${details.status}`
      : details.kind === 'connection'
        ? 'the connection dropped mid-answer'
        : details.kind === 'malformed'
          ? 'a malformed chunk'
          : 'a provider error'
  return new FlowcastError('model_error', `model call failed on attempt ${attempt}: ${what}: ${message}`, {
    cause: err,
    details,
  })
}
