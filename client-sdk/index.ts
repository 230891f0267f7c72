/**
 * The flowcast client SDK: watch executions live over one shared WebSocket, resume losslessly
 * after any disconnect, stop streams as an admin and fetch results. Runs in browsers as it is and
 * in Node 20 with the `ws` package passed as `WebSocket`. React bindings: `@flowcast/client/react`.
 */
import { FlowcastClient } from './client.ts'
import type { ClientOptions } from './types.ts'

export {
  CloseCode,
  type ExecutionSnapshot,
  type ExecutionStatus,
  FlowcastError,
  type FlowcastErrorCode,
  type FlowInfo,
  isFlowcastError,
  PROTOCOL_VERSION,
  type ResultResponse,
  type StartResponse,
  type StreamEndReason,
  type WireEvent,
} from '@flowcast/protocol'
export { FlowcastClient } from './client.ts'
export type {
  CallOptions,
  CancelResult,
  ClientOptions,
  ConnectionState,
  EndInfo,
  Environment,
  FetchLike,
  FlowMap,
  FlowName,
  FlowNamed,
  GapInfo,
  GetToken,
  InputOfFlow,
  ReconnectOptions,
  ResultOfFlow,
  StopStreamResult,
  StreamDataOf,
  StreamEvent,
  StreamOptions,
  SubscribeHandlers,
  SubscriptionHandle,
  TokenRequest,
  Transport,
  WebSocketConstructor,
  WebSocketLike,
} from './types.ts'

/**
 * Creates a client; it connects at once (or, with `autoConnect: false`, on first use) and
 * reconnects until `close()`. `createClient<typeof flows>(...)` types flow names, inputs, streams
 * and results from a server's flows (a record by name, or an array of flows).
 */
export function createClient<Flows = unknown>(options: ClientOptions): FlowcastClient<Flows> {
  return new FlowcastClient<Flows>(options)
}
