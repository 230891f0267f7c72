/**
 * `useConnectionState()`: the client's WebSocket state as React state, read through
 * `useSyncExternalStore` (so no render sees a torn value); `idle` during server-side rendering.
 */
import { useCallback, useSyncExternalStore } from 'react'
import type { FlowcastClient } from './client.ts'
import { useFlowcastClient } from './provider.ts'
import type { ConnectionState } from './types.ts'

/** The connection state of `client` (default: the provider's), re-rendering on every change. */
export function useConnectionState(client?: FlowcastClient<any>): ConnectionState {
  const fromContext = useFlowcastClient()
  const c = client ?? fromContext
  const subscribe = useCallback(
    (onChange: () => void) => {
      const stop = c.onConnectionState(onChange)
      return () => {
        stop()
      }
    },
    [c],
  )
  return useSyncExternalStore(
    subscribe,
    () => c.connectionState,
    () => 'idle',
  )
}
