/**
 * `<FlowcastProvider client={client}>`: hands one client to every hook below it. The provider
 * opens nothing: the client connects on its first subscription (in an effect, never during render
 * or server-side rendering), so making it with `autoConnect: false` keeps SSR and StrictMode free
 * of sockets.
 */
import { FlowcastError } from '@flowcast/protocol'
import { createContext, createElement, type ReactNode, useContext } from 'react'
import type { FlowcastClient } from './client.ts'

const ClientContext = createContext<FlowcastClient<any> | null>(null)

/** Props of `FlowcastProvider`. */
export interface FlowcastProviderProps {
  client: FlowcastClient<any>
  children?: ReactNode
}

/** Makes `client` the one the hooks below use. */
export function FlowcastProvider({ client, children }: FlowcastProviderProps): ReactNode {
  return createElement(ClientContext.Provider, { value: client }, children)
}

/** The client of the nearest `FlowcastProvider`; throws `bad_request` without one. */
export function useFlowcastClient<Flows = unknown>(): FlowcastClient<Flows> {
  const client = useContext(ClientContext)
  if (!client)
    throw new FlowcastError('bad_request', 'a flowcast hook needs a <FlowcastProvider client={...}> above it')
  return client as FlowcastClient<Flows>
}
