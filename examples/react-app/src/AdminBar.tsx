import { isFlowcastError } from '@flowcast/client'
import { useFlowcastClient } from '@flowcast/client/react'
import { useState } from 'react'
import { type AppConfig, fetchToken } from './config.ts'

/** Stops the stream for every watcher, with an admin token of its own (the client's is a viewer's). */
export function AdminBar({ config }: { config: AppConfig }) {
  const client = useFlowcastClient()
  const [outcome, setOutcome] = useState('')
  const stop = async (): Promise<void> => {
    try {
      const token = config.tokens ? await fetchToken(config.tokens, config.execution, 'admin') : undefined
      const answer = await client.stopStream(config.execution, token ? { token } : {})
      setOutcome('stopped' in answer ? 'stopped' : 'already stopped')
    } catch (err) {
      setOutcome(`failed: ${isFlowcastError(err) ? err.code : String(err)}`)
    }
  }
  return (
    <p id="admin">
      <button id="stop" type="button" onClick={() => void stop()}>
        Stop stream
      </button>{' '}
      <span id="stop-outcome">{outcome}</span>
    </p>
  )
}
