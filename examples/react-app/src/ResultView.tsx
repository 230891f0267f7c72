import { useExecutionResult } from '@flowcast/client/react'

/** The execution's final result, long-polled until it finished. */
export function ResultView({ executionId }: { executionId: string }) {
  const { result, error, pending } = useExecutionResult(executionId)
  if (error) return <p id="result-error">{error.code}</p>
  if (pending || !result) return <p id="result-pending">running…</p>
  return (
    <pre id="result" data-status={result.status}>
      {JSON.stringify(result, null, 2)}
    </pre>
  )
}
