/**
 * The execution's outcome: the result panel (completed or cancelled) and the error panel
 * (failed), filled from a long-polled GET of the result that retries over network trouble.
 */
import type { ExecutionStatus, FlowcastClient, ResultResponse } from '@flowcast/client'
import { byId } from './dom.ts'
import { codeOf, isRefusal } from './text.ts'

/** How long one result long-poll waits on the server (ms). */
const RESULT_WAIT_MS = 30_000
/** Retry delays after a failed poll (ms): doubling from the first to the last. */
const RETRY_FIRST_MS = 500
const RETRY_MAX_MS = 5000

/** Shows a failed execution's error. */
export function showError(error: { code?: string; message?: string } | undefined): void {
  const panel = byId('error-panel')
  byId('error-message').textContent = `${error?.code ?? 'error'}: ${error?.message ?? 'unknown error'}`
  panel.dataset.code = error?.code ?? ''
  panel.hidden = false
}

/** Long-polls the result until the execution ends (retrying over network trouble), then shows it. */
export async function awaitResult(
  client: FlowcastClient,
  executionId: string,
  setStatus: (status: ExecutionStatus) => void,
): Promise<void> {
  for (let delay = RETRY_FIRST_MS; ; ) {
    let out: ResultResponse
    try {
      out = await client.result(executionId, { wait: RESULT_WAIT_MS })
    } catch (err) {
      if (codeOf(err) === 'connection_closed' && client.connectionState === 'closed') return
      if (isRefusal(err)) return
      await new Promise((r) => setTimeout(r, delay))
      delay = Math.min(delay * 2, RETRY_MAX_MS)
      continue
    }
    setStatus(out.status)
    if (out.status === 'failed') return showError(out.error)
    const pre = byId('result')
    if (out.status === 'completed') pre.textContent = JSON.stringify(out.result, null, 2)
    else if (out.status === 'cancelled')
      pre.textContent = `The execution was cancelled${out.error ? `: ${out.error.message}` : '.'}`
    else continue
    pre.dataset.status = out.status
    byId('result-panel').hidden = false
    return
  }
}
