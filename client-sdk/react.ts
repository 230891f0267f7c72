/**
 * `@flowcast/client/react`: React bindings over the client — a provider for one client, and hooks
 * for an execution's stream, its result and the connection state. React is an optional peer
 * dependency: the core (`@flowcast/client`) never imports it.
 */
export { FlowcastProvider, type FlowcastProviderProps, useFlowcastClient } from './provider.ts'
export { useConnectionState } from './use-connection-state.ts'
export { type ExecutionView, type UseExecutionOptions, useExecution } from './use-execution.ts'
export { type ExecutionResultView, useExecutionResult } from './use-execution-result.ts'
