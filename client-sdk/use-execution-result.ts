/**
 * `useExecutionResult(id)`: an execution's final result as React state, long-polling
 * `GET /api/executions/:id/result?wait=` until the execution has finished; the request is aborted
 * when the component unmounts or the id changes.
 */
import type { FlowcastError, ResultResponse } from '@flowcast/protocol'
import { isTerminal } from '@flowcast/protocol'
import { useEffect, useState } from 'react'
import { useFlowcastClient } from './provider.ts'
import type { ResultOfFlow } from './types.ts'

/** What `useExecutionResult` returns. */
export interface ExecutionResultView<R = unknown> {
  /** The last answer: `{ status }` while running, then the final one. */
  result: ResultResponse<R> | undefined
  error: FlowcastError | undefined
  /** True until a final answer (or an error) arrived. */
  pending: boolean
}

/** Waits for `executionId`'s result (nothing while it is null/undefined). */
export function useExecutionResult<F = unknown>(
  executionId: string | null | undefined,
  options: { waitMs?: number } = {},
): ExecutionResultView<ResultOfFlow<F>> {
  type R = ResultOfFlow<F>
  const client = useFlowcastClient()
  const waitMs = options.waitMs ?? 30_000
  const [view, setView] = useState<ExecutionResultView<R>>({
    result: undefined,
    error: undefined,
    pending: true,
  })
  useEffect(() => {
    setView({ result: undefined, error: undefined, pending: executionId != null })
    if (!executionId) return
    const ctrl = new AbortController()
    const poll = (): void => {
      client.result<F>(executionId, { wait: waitMs, signal: ctrl.signal }).then(
        (result) => {
          if (ctrl.signal.aborted) return
          const done = isTerminal(result.status)
          setView({ result: result as ResultResponse<R>, error: undefined, pending: !done })
          if (!done) poll()
        },
        (error: FlowcastError) => {
          if (!ctrl.signal.aborted) setView({ result: undefined, error, pending: false })
        },
      )
    }
    poll()
    return () => ctrl.abort()
  }, [client, executionId, waitMs])
  return view
}
