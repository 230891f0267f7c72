/**
 * The one error class of flowcast. Engine, server and client SDK all throw it, each with a
 * string code a program can branch on; it lives in the shared protocol package so that none of them has to import
 * another to share it.
 */
export type FlowcastErrorCode =
  | 'timeout'
  | 'execution_failed'
  | 'execution_cancelled'
  | 'invalid_input'
  | 'invalid_result'
  | 'contract_violation'
  | 'invalid_state'
  | 'not_found'
  | 'interrupt_not_found'
  | 'interrupt_not_waiting'
  | 'already_started'
  | 'bad_request'
  | 'bad_frame'
  | 'unknown_type'
  | 'already_subscribed'
  | 'not_subscribed'
  | 'invalid_since'
  | 'unauthorized'
  | 'forbidden'
  | 'rate_limited'
  | 'too_many_subscriptions'
  | 'too_many_executions'
  | 'too_many_connections'
  | 'payload_too_large'
  | 'item_too_large'
  | 'unsupported_media_type'
  | 'broker_unavailable'
  | 'connection_closed'
  | 'queue_full'
  | 'protocol_error'
  | 'internal'
  | 'node_lost'
  | 'invalid_snapshot'
  | 'checkpoint_too_large'
  | 'invalid_json'
  | 'model_error'
  | 'method_not_allowed'
  | 'aborted'
  | 'token_expired'
  | 'draining'
  | 'shutdown'

/**
 * Codes of refusals that may pass if the same request is sent again later (a rate limit, a store
 * that is away, a server fault); every other refusal is final for that request.
 */
export const RETRYABLE_CODES: readonly FlowcastErrorCode[] = [
  'rate_limited',
  'broker_unavailable',
  'draining',
  'internal',
]

const retryable: ReadonlySet<string> = new Set(RETRYABLE_CODES)

/** True when a refusal with `code` is worth one more try later (see RETRYABLE_CODES). */
export function isRetryable(code: string): boolean {
  return retryable.has(code)
}

/** An error with a stable string code and, where one caused it, the original error as `cause`. */
export class FlowcastError extends Error {
  override readonly name = 'FlowcastError'
  readonly code: FlowcastErrorCode
  readonly details?: unknown

  constructor(code: FlowcastErrorCode, message: string, options?: { cause?: unknown; details?: unknown }) {
    super(message, options?.cause === undefined ? undefined : { cause: options.cause })
    this.code = code
    if (options?.details !== undefined) this.details = options.details
  }

  /** The JSON shape used on the wire and in HTTP error bodies. */
  toJSON(): { code: FlowcastErrorCode; message: string } {
    return { code: this.code, message: this.message }
  }
}

/** True when `err` is a FlowcastError, optionally of the given code. */
export function isFlowcastError(err: unknown, code?: FlowcastErrorCode): err is FlowcastError {
  return err instanceof FlowcastError && (code === undefined || err.code === code)
}
