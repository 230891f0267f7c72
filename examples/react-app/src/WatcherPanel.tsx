import { useExecution, useFlowcastClient } from '@flowcast/client/react'
import { useEffect } from 'react'

declare global {
  interface Window {
    /** Effect runs of the panels: twice per panel when StrictMode double-mounts (development builds). */
    flowcastPanelMounts?: number
  }
}

/** One watcher of the execution: its own subscription on the shared client, showing every event once. */
export function WatcherPanel({ name, executionId }: { name: string; executionId: string }) {
  const client = useFlowcastClient()
  const { events, status, end, error, connectionState, subscribers } = useExecution(executionId)
  useEffect(() => {
    window.flowcastPanelMounts = (window.flowcastPanelMounts ?? 0) + 1
  }, [])
  return (
    <section className="panel" data-panel={name} data-count={events.length} data-status={status ?? ''}>
      <h2>Watcher {name}</h2>
      <p>
        status <span className="status">{status ?? '…'}</span> · {connectionState} over{' '}
        <span className="transport">{client.transport}</span> ·{' '}
        <span className="presence">{subscribers ?? '–'}</span> watching (server) ·{' '}
        <span className="watchers">{client.watchers(executionId)}</span> on this client
      </p>
      {end && (
        <p className="end" data-reason={end.reason}>
          stream ended: {end.reason}
          {end.by ? ` by ${end.by}` : ''}
        </p>
      )}
      {error && (
        <p className="error" data-code={error.code}>
          {error.code}: {error.message}
        </p>
      )}
      <ol className="events">
        {events.map((ev) => (
          <li key={ev.seq} data-seq={ev.seq}>
            {JSON.stringify(ev.data)}
          </li>
        ))}
      </ol>
    </section>
  )
}
