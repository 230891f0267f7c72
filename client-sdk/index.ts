/**
 * The flowcast client SDK: watch executions live over one shared WebSocket, resume losslessly
 * after any disconnect, stop streams as an admin and fetch results. Runs in browsers as it is and
 * in Node 20 with the `ws` package passed as `WebSocket`.
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
  CancelResult,
  ClientOptions,
  ConnectionState,
  EndInfo,
  FetchLike,
  GapInfo,
  InputOfFlow,
  ReconnectOptions,
  ResultOfFlow,
  StopStreamResult,
  StreamDataOf,
  StreamEvent,
  StreamOptions,
  SubscribeHandlers,
  SubscriptionHandle,
  WebSocketConstructor,
  WebSocketLike,
} from './types.ts'

/** Creates a client; it connects at once and reconnects until `close()`. */
export function createClient(options: ClientOptions): FlowcastClient {
  return new FlowcastClient(options)
}
