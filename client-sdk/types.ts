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
/** The input type of flow `F`: the schema's input side, so fields with defaults may be left out. */
export type InputOfFlow<F> = FlowTypes<F>['input']

/**
 * A server's flows, as `createClient<typeof flows>()` takes them: a record of flows by name
 * (`{ 'long-job': longJobFlow() }`). `unknown` leaves names untyped.
 */
export type FlowMap<Flows> = Flows extends Record<string, unknown> ? Flows : Record<string, unknown>

/** The names a client may start: the flow map's keys, or any string when untyped. */
export type FlowName<Flows> = unknown extends Flows ? string : Extract<keyof FlowMap<Flows>, string>

/** The flow called `N` in `Flows`, or `unknown`. */
export type FlowNamed<Flows, N> = N extends keyof FlowMap<Flows> ? FlowMap<Flows>[N] : unknown

/** What a waiting call takes besides its arguments. */
export interface CallOptions {
  /** Aborting rejects the call with `aborted` and releases what it holds (a subscription, a request). */
  signal?: AbortSignal
}

/** Why the client asks for a token. */
export interface TokenRequest {
  /** Set when the token is for one execution's subscription or call; absent for the socket itself. */
  executionId?: string
  /** `connect`: a (re)connect or first use; `expired`/`refused`: the server refused the last one. */
  reason: 'connect' | 'expired' | 'refused'
}

/** Returns a token (viewer or admin, minted by your backend); undefined means none. */
export type GetToken = (request: TokenRequest) => string | undefined | Promise<string | undefined>

/** One event as the application sees it: the envelope the flow put, with its seq. */
export type StreamEvent<T = unknown> = WireEvent<T>

/**
 * The WebSocket's state: `idle` until the first use (or `connect()`) when `autoConnect` is false.
 * While it cannot connect, subscriptions may be live over SSE (see `client.transport`).
 */
export type ConnectionState = 'idle' | 'connecting' | 'open' | 'reconnecting' | 'closed'

/** What carries the subscriptions now: the WebSocket, or per-execution SSE while it cannot connect. */
export type Transport = 'websocket' | 'sse'

/** Where the client hears of the network and the page's visibility; browsers' `window` and `document` by default. */
export interface Environment {
  /** Gets `online` and `offline` events. */
  window?: EventTarget
  /** Gets `visibilitychange`; its `visibilityState` is read. */
  document?: EventTarget & { visibilityState?: string }
}

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
  /** Failed WebSocket attempts in a row (none reaching `hello`) after which subscriptions go over SSE. */
  fallbackAfter?: number
}

export interface ClientOptions {
  /** Base URL of the server (`http(s)://` or `ws(s)://`). */
  url?: string
  /** Several node URLs: the client rotates across them on each reconnect and HTTP failure. */
  urls?: string[]
  /**
   * A viewer or admin token: sent in an `auth` frame (in browsers, by default) or as `?token=`, and
   * as `Authorization: Bearer` on reads. Fixed for the client's life; see `getToken` for refresh.
   */
  token?: string
  /**
   * Asked for a token on every (re)connect, and again whenever the server reports one expired or
   * refused (then the client retries with the new one instead of giving up). Also asked, with the
   * `executionId`, for a subscription whose own token expired. Takes precedence over `token`.
   */
  getToken?: GetToken
  /** The server API key: starts executions; without a `token`, also the socket's credential (sent in an `auth` frame). */
  apiKey?: string
  /** Send the token in an `auth` first frame instead of the URL; true in browsers and with `getToken`. */
  tokenInFrame?: boolean
  /** Open the socket when the client is made; false waits for `connect()` or the first subscription or command. */
  autoConnect?: boolean
  /**
   * Silence after which the client pings; twice this without a byte from the server and the link
   * counts as dead (reconnect). The server's own heartbeat, when shorter, is used instead.
   * @default 8000 (a dead link is noticed within 16 s)
   */
  heartbeatMs?: number
  /** Fall back to SSE (one HTTP stream per execution) while the WebSocket cannot connect. @default true */
  sseFallback?: boolean
  /** Where `online`/`offline`/`visibilitychange` come from (browsers: window and document). */
  environment?: Environment
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
  /** Ends the subscription (quietly, no `onError`) when aborted; the server lets go at once. */
  signal?: AbortSignal
  /**
   * This subscription's own token (say, admin of this execution while the socket is a viewer of
   * another): a string, or a function asked again when the server reports it expired.
   */
  token?: string | (() => string | undefined | Promise<string | undefined>)
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
  /** Aborting ends the iteration with an `aborted` error and unsubscribes at once. */
  signal?: AbortSignal
  /** This stream's own token, as in `SubscribeHandlers.token`. */
  token?: SubscribeHandlers['token']
  /** Ends the iteration (without throwing) when no event came for this many ms; `null`/absent waits for the end. */
  timeout?: number | null
  onGap?: (gap: GapInfo) => void
}

export type StopStreamResult = { stopped: true } | { alreadyStopped: true }

export type CancelResult = { cancelled: true } | { alreadyEnded: true }

export type { ExecutionStatus, ResultResponse }
