/**
 * An execution's status and why its runtime stream ended: one definition each, shared by the
 * engine, the server (memory and Redis), the client SDK and the watch page. Plain values, no
 * schema: the frames' checks build on them.
 */
export const EXECUTION_STATUSES = [
  'created',
  'running',
  'waiting',
  'completed',
  'failed',
  'cancelled',
] as const
export type ExecutionStatus = (typeof EXECUTION_STATUSES)[number]

/** The statuses an execution never leaves. */
export type TerminalStatus = 'completed' | 'failed' | 'cancelled'
export const TERMINAL_STATUSES: readonly TerminalStatus[] = ['completed', 'failed', 'cancelled']

const terminal: ReadonlySet<string> = new Set(TERMINAL_STATUSES)

/** True when `status` is final (completed, failed or cancelled); undefined is not. */
export function isTerminal(status: string | undefined): status is TerminalStatus {
  return status !== undefined && terminal.has(status)
}

/**
 * Why a runtime stream ended: stopped by a flow or an admin, or the execution ended; `evicted`
 * when the server let the execution go (finished TTL) while a subscriber was still behind: its
 * log is gone, and its result may be too.
 */
export const STREAM_END_REASONS = ['stopped', 'completed', 'failed', 'cancelled', 'evicted'] as const
export type StreamEndReason = (typeof STREAM_END_REASONS)[number]
