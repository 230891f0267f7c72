import { useConnectionState } from '@flowcast/client/react'
import { useState } from 'react'
import { AdminBar } from './AdminBar.tsx'
import type { AppConfig } from './config.ts'
import { ResultView } from './ResultView.tsx'
import { WatcherPanel } from './WatcherPanel.tsx'

/** The page: the connection state, the admin bar, N watcher panels (which can be unmounted) and the result. */
export function App({ config }: { config: AppConfig }) {
  const connection = useConnectionState()
  const [mounted, setMounted] = useState(true)
  if (!config.execution)
    return <p id="usage">Open this page with ?execution=&lt;id&gt; (and ?server=, ?tokens=).</p>
  return (
    <main>
      <h1>flowcast · {config.execution}</h1>
      <p>
        connection <span id="connection">{connection}</span>{' '}
        <button id="toggle" type="button" onClick={() => setMounted((m) => !m)}>
          {mounted ? 'Unmount watchers' : 'Mount watchers'}
        </button>
      </p>
      {config.admin && <AdminBar config={config} />}
      {mounted && (
        <>
          <div id="panels">
            {config.panels.map((name) => (
              <WatcherPanel key={name} name={name} executionId={config.execution} />
            ))}
          </div>
          <ResultView executionId={config.execution} />
        </>
      )}
    </main>
  )
}
