/**
 * The public types of the client SDK. Flow types arrive through a type-only import so that the
 * engine never ends up in a browser bundle.
 */
import type {
  ExecutionStatus,
  FlowcastError,
  FlowTypes,
  ResultResponse,
  StreamEndReason,
  WireEvent,
} from '@flowcast/protocol'

/** The stream item type of flow `F` (`unknown` when no flow is given or it has no stream contract). */
export type StreamDataOf<F> = FlowTypes<F>['stream']
/** The result type of flow `F`. */
export type ResultOfFlow<F> = FlowTypes<F>['result']
/** The input type of flow `F`. */
export type InputOfFlow<F> = FlowTypes<F>['input']

/** One event as the application sees it: the envelope the flow put, with its seq. */
export type StreamEvent<T = unknown> = WireEvent<T>

export type ConnectionState = 'connecting' | 'open' | 'reconnecting' | 'closed'

/** The part of the WebSocket interface the SDK uses; the browser's, Node 22's and the `ws` package's all fit. */
export interface WebSocketLike {
  readonly readyState: number
  readonly bufferedAmount?: number
  onopen: ((ev: any) => void) | null
  onmessage: ((ev: { data: unknown }) => void) | null
  onclose: ((ev: { code: number; reason: string }) => void) | null
  onerror: ((ev: any) => void) | null
  send(data: string): void
  close(code?: number, reason?: string): void
}

export type WebSocketConstructor = new (url: string) => WebSocketLike

export type FetchLike = (input: string, init?: RequestInit) => Promise<Response>

export interface ReconnectOptions {
  /** First backoff ceiling in ms; each failed attempt doubles it. */
  baseMs?: number
  /** The highest backoff ceiling in ms. */
  maxMs?: number
  /** A connection must stay up this long before the backoff starts over. */
  minUptimeMs?: number
  /** Give up on an attempt (socket open plus `hello`) after this long. */
  connectTimeoutMs?: number
}

export interface ClientOptions {
  /** Base URL of the server (`http(s)://` or `ws(s)://`). */
  url?: string
  /** Several node URLs: the client rotates across them on each reconnect and HTTP failure. */
  urls?: string[]
  /** A viewer or admin token: sent as `?token=` (or an `auth` frame) and as `Authorization: Bearer` on reads. */
  token?: string
  /** The server API key: starts executions; without a `token`, also the socket's credential (sent in an `auth` frame). */
  apiKey?: string
  /** Send the token in an `auth` first frame instead of the URL. */
  tokenInFrame?: boolean
  /** The WebSocket class; defaults to the global one (pass the `ws` package's in Node 20). */
  WebSocket?: WebSocketConstructor | (abstract new (...args: any[]) => any)
  /** The fetch function; defaults to the global one. */
  fetch?: FetchLike
  /** Path of the WebSocket endpoint; `/ws` by default. */
  wsPath?: string
  /** Backoff and timeouts of the reconnect loop; `false` never reconnects. */
  reconnect?: ReconnectOptions | false
  /** Commands held while the socket is not open; one more is refused with `queue_full`. */
  maxQueue?: number
  /** How long a command waits for its reply. */
  requestTimeoutMs?: number
  /** Errors that belong to no subscription (bad frames without an execution, connection trouble). */
  onError?: (err: FlowcastError) => void
}

export interface EndInfo {
  reason: StreamEndReason
  lastSeq: number
  by?: string
}

export interface GapInfo {
  from: number
  to: number
}

export interface SubscribeHandlers<T = unknown> {
  /** Last seq the application already has; 0 or absent starts from the earliest retained event. */
  since?: number
  onEvent?: (event: StreamEvent<T>) => void
  onEnd?: (info: EndInfo) => void
  onStatus?: (status: ExecutionStatus) => void
  onGap?: (gap: GapInfo) => void
  onError?: (err: FlowcastError) => void
  onPresence?: (subscribers: number) => void
}

export interface SubscriptionHandle {
  /** The newest seq delivered to the application. */
  readonly lastSeq: number
  /** True once `stream_end` arrived, the subscription failed, or it was unsubscribed. */
  readonly ended: boolean
  unsubscribe(): void
}

export interface StreamOptions {
  since?: number
  /** Ends the iteration (without throwing) when no event came for this many ms; `null`/absent waits for the end. */
  timeout?: number | null
  onGap?: (gap: GapInfo) => void
}

export type StopStreamResult = { stopped: true } | { alreadyStopped: true }

export type CancelResult = { cancelled: true } | { alreadyEnded: true }

export type { ExecutionStatus, ResultResponse }
