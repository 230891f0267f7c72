/**
 * Retrying a model call: how many attempts, how long between them (exponential backoff, or the
 * provider's `retry-after` when it asks, capped), and a wait that ends at once when the execution
 * is cancelled.
 */
import type { FlowcastError } from '@flowcast/protocol'

export interface RetryOptions {
  /** Attempts in all, the first included. @default 1 (no retry: a flow asks for retries) */
  attempts?: number
  /** Wait before the second attempt; doubles for each one after. @default 500 */
  initialDelayMs?: number
  /** Longest wait between two attempts, also for a provider's `retry-after`. @default 8000 */
  maxDelayMs?: number
  /** Which failures to retry. @default those whose details say `retryable` (429, 5xx, dropped, malformed) */
  retryOn?: (error: FlowcastError) => boolean
}

/** Milliseconds to wait after failed attempt `attempt` (1-based). */
export function backoffMs(options: RetryOptions, attempt: number, error: FlowcastError): number {
  const max = options.maxDelayMs ?? 8000
  const asked = (error.details as { retryAfterMs?: number } | undefined)?.retryAfterMs
  if (asked !== undefined) return Math.min(asked, max)
  return Math.min((options.initialDelayMs ?? 500) * 2 ** (attempt - 1), max)
}

/** True when `error` may be retried under `options`. */
export function shouldRetry(options: RetryOptions, error: FlowcastError): boolean {
  if (options.retryOn) return options.retryOn(error)
  return (error.details as { retryable?: boolean } | undefined)?.retryable === true
}

/** Resolves after `ms`, or rejects with the signal's reason as soon as `signal` aborts. */
export function wait(ms: number, signal: AbortSignal): Promise<void> {
  if (signal.aborted) return Promise.reject(signal.reason)
  return new Promise((resolve, reject) => {
    const onAbort = () => {
      clearTimeout(timer)
      reject(signal.reason)
    }
    const timer = setTimeout(() => {
      signal.removeEventListener('abort', onAbort)
      resolve()
    }, ms)
    signal.addEventListener('abort', onAbort, { once: true })
  })
}
