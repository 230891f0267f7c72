/** How an execution's error looks in snapshots, results and the Redis hash: `{ code, message }`. */
import { isFlowcastError } from '@flowcast/protocol'

/** The JSON shape of an execution's error, as routes and frames show it. */
export function errorShape(err: unknown): { code: string; message: string } {
  if (isFlowcastError(err)) return { code: err.code, message: err.message }
  if (err instanceof Error) return { code: 'execution_failed', message: err.message }
  return { code: 'execution_failed', message: String(err) }
}

/** The error a cancelled execution reports. */
export function cancelledError(executionId: string): { code: string; message: string } {
  return { code: 'execution_cancelled', message: `execution ${executionId} was cancelled` }
}
