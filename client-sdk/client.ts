/**
 * The flowcast client: one socket shared by every execution the client watches (one wire
 * subscription per execution, shared by its local watchers), request/reply bookkeeping for
 * commands, the SSE fallback and the HTTP calls. See index.ts for the public face.
 */

import type {
  AckFrame,
  ClientFrame,
  ExecutionSnapshot,
  FlowInfo,
  ResultResponse,
  ServerFrame,
  StartResponse,
} from '@flowcast/protocol'
import { FlowcastError, type FlowcastErrorCode, isFlowcastError } from '@flowcast/protocol'
import { Channel, type ChannelHost } from './channel.ts'
import { Connection } from './connection.ts'
import { watchEnvironment } from './environment.ts'
import { HttpApi } from './http.ts'
import {
  DEFAULT_HEARTBEAT_MS,
  DEFAULT_MAX_QUEUE,
  DEFAULT_RECONNECT,
  DEFAULT_REQUEST_TIMEOUT_MS,
  SSE_IDLE_MS,
} from './options.ts'
import { openSse } from './sse.ts'
import { abortError, iterateStream } from './stream.ts'
import { Subscription } from './subscription.ts'
import type {
  CallOptions,
  CancelResult,
  ClientOptions,
  ConnectionState,
  FetchLike,
  FlowName,
  FlowNamed,
  InputOfFlow,
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
} from './types.ts'
import { Unsubscribes } from './unsubscribes.ts'

interface Pending {
  id: string
  frame: ClientFrame
  /** Sent again on the next socket when the current one drops before the reply (idempotent commands). */
  retry: boolean
  resolve(frame: AckFrame): void
  reject(err: FlowcastError): void
  timer: ReturnType<typeof setTimeout>
  signal: AbortSignal | undefined
  onAbort: () => void
}

/** A command frame, with the client's string request id. */
type CommandFrame = Extract<ClientFrame, { type: 'stop_stream' | 'cancel' | 'continue' }> & { id: string }

/** A flow given by name (on a client typed with its server's flows) or as a flow type. */
type FlowOf<Flows, F> = F extends string ? FlowNamed<Flows, F> : F

/** A client of one flowcast service (one or several nodes); `Flows` types the flows by name. */
export class FlowcastClient<Flows = unknown> {
  readonly #conn: Connection
  readonly #http: HttpApi
  readonly #fetch: () => FetchLike
  readonly #abort = new AbortController()
  readonly #channels = new Map<string, Channel>()
  readonly #pending = new Map<string, Pending>()
  readonly #timers = new Set<ReturnType<typeof setTimeout>>()
  readonly #stateListeners = new Set<(state: ConnectionState) => void>()
  readonly #options: ClientOptions
  readonly #requestTimeoutMs: number
  readonly #host: ChannelHost
  readonly #unsubscribes: Unsubscribes
  #nextId = 0
  #closed = false
  #overSse = false
  #stopEnvironment: (() => void) | null = null

  constructor(options: ClientOptions) {
    const bases = options.urls?.length ? options.urls : options.url ? [options.url] : []
    if (bases.length === 0) throw new FlowcastError('bad_request', 'createClient needs `url` or `urls`')
    this.#options = options
    this.#requestTimeoutMs = options.requestTimeoutMs ?? DEFAULT_REQUEST_TIMEOUT_MS
    // Found on first use, not here: a client made during server-side rendering needs neither.
    const WebSocketImpl = (): WebSocketConstructor => {
      const impl = options.WebSocket ?? (globalThis as { WebSocket?: unknown }).WebSocket
      if (!impl)
        throw new FlowcastError(
          'bad_request',
          'no global WebSocket here: pass one (in Node 20, the `ws` package)',
        )
      return impl as WebSocketConstructor
    }
    this.#fetch = () => {
      const impl = options.fetch ?? globalThis.fetch?.bind(globalThis)
      if (!impl) throw new FlowcastError('bad_request', 'no global fetch here: pass one')
      return impl as FetchLike
    }
    const getToken = options.getToken
    // The socket carries a token, or else the API key (the server takes it wherever a token goes).
    // An API key is long-lived: it only ever travels in an `auth` frame, never in a URL that logs keep;
    // so do tokens in browsers (and every token from getToken, which may change on each attempt).
    const inBrowser = typeof document !== 'undefined'
    const staticCredential = options.token ?? options.apiKey
    const tokenInFrame =
      getToken !== undefined ||
      (staticCredential !== undefined && (options.tokenInFrame ?? (inBrowser || options.token === undefined)))
    this.#http = new HttpApi({
      bases: bases.map(httpBase),
      fetch: (input, init) => this.#fetch()(input, init),
      bearer: async (request) => {
        if (request.key && options.apiKey) return options.apiKey
        if (options.token !== undefined && !getToken) return options.token
        return (await getToken?.(request)) ?? options.apiKey
      },
      canRefresh: getToken !== undefined,
      signal: this.#abort.signal,
    })
    const later = (fn: () => void, ms: number): (() => void) => {
      const timer = setTimeout(() => {
        this.#timers.delete(timer)
        fn()
      }, ms)
      this.#timers.add(timer)
      return () => {
        clearTimeout(timer)
        this.#timers.delete(timer)
      }
    }
    this.#unsubscribes = new Unsubscribes({
      send: (executionId) => {
        const id = this.#id('u')
        return this.#conn.sendIfOpen({ type: 'unsubscribe', id, executionId }) ? id : null
      },
      watches: (executionId) => this.#channels.has(executionId),
      later,
    })
    this.#host = {
      sendSubscribe: (executionId, since, token) => {
        const id = this.#id('s')
        const frame: ClientFrame = { type: 'subscribe', id, executionId }
        if (since > 0) frame.since = since
        if (token !== undefined) frame.token = token
        this.#conn.start()
        return this.#conn.sendIfOpen(frame) ? id : null
      },
      sendUnsubscribe: (executionId) => this.#unsubscribes.send(executionId),
      openSse: (channel, since, token) => this.#openSse(channel, since, token),
      overSse: () => this.#overSse,
      getToken: getToken && (async (request: TokenRequest) => getToken(request)),
      forget: (channel) => {
        if (this.#channels.get(channel.executionId) === channel) this.#channels.delete(channel.executionId)
      },
      reportHandlerError: (err) =>
        this.#report(new FlowcastError('internal', 'a handler threw', { cause: err })),
      later,
    }
    const reconnect = options.reconnect === false ? false : { ...DEFAULT_RECONNECT, ...options.reconnect }
    this.#conn = new Connection(
      {
        urls: bases.map((b) =>
          wsUrl(b, options.wsPath ?? '/ws', tokenInFrame ? undefined : staticCredential),
        ),
        WebSocket: WebSocketImpl,
        credential: getToken ?? (tokenInFrame ? () => staticCredential : undefined),
        refreshOnRefusal: getToken !== undefined,
        heartbeatMs: options.heartbeatMs ?? DEFAULT_HEARTBEAT_MS,
        reconnect,
        maxQueue: options.maxQueue ?? DEFAULT_MAX_QUEUE,
      },
      {
        onOpen: () => {
          this.#overSse = false
          for (const channel of [...this.#channels.values()]) channel.resume()
        },
        onFrame: (frame) => this.#dispatch(frame),
        onBadFrame: (err, raw) => this.#badFrame(err, raw),
        onDrop: (terminal) => this.#onDrop(terminal),
        onAttemptFailed: (failures, err) => {
          if (err) this.#report(err)
          const after = reconnect ? reconnect.fallbackAfter : 1
          if (options.sseFallback === false || this.#overSse || failures < after) return
          this.#overSse = true
          for (const channel of [...this.#channels.values()]) channel.fallBack()
        },
        onState: (state) => {
          for (const listener of [...this.#stateListeners]) {
            try {
              listener(state)
            } catch (err) {
              this.#report(new FlowcastError('internal', 'a connection state listener threw', { cause: err }))
            }
          }
        },
      },
    )
    if (options.autoConnect !== false) this.connect()
  }

  /** Opens the socket now (it also opens on the first subscription or command); idempotent. */
  connect(): void {
    if (this.#closed) return
    this.#stopEnvironment ??= watchEnvironment(this.#options.environment, {
      offline: () => this.#conn.offline(),
      wake: () => this.#conn.wake(),
    })
    this.#conn.start()
  }

  /** 'idle' | 'connecting' | 'open' | 'reconnecting' | 'closed': the WebSocket's state. */
  get connectionState(): ConnectionState {
    return this.#conn.state
  }

  /** What carries subscriptions now: `sse` while the WebSocket cannot connect and the fallback is on. */
  get transport(): Transport {
    return this.#overSse ? 'sse' : 'websocket'
  }

  /** Calls `listener` on every connection state change; returns a function that stops it. */
  onConnectionState(listener: (state: ConnectionState) => void): () => void {
    this.#stateListeners.add(listener)
    return () => this.#stateListeners.delete(listener)
  }

  /** How many subscriptions of this client watch `executionId` (they share one wire subscription). */
  watchers(executionId: string): number {
    return this.#channels.get(executionId)?.watchers ?? 0
  }

  /** Starts an execution of `flow` (needs the API key when the server has auth on). */
  start<F = unknown, N extends FlowName<Flows> = FlowName<Flows>>(
    flow: N,
    input?: InputOfFlow<unknown extends F ? FlowNamed<Flows, N> : F>,
    options: CallOptions = {},
  ): Promise<StartResponse> {
    return this.#http.start(flow, input, options.signal)
  }

  /** The flows the server runs, with their contracts as JSON Schema. */
  flows(options: CallOptions = {}): Promise<FlowInfo[]> {
    return this.#http.flows(options.signal)
  }

  /** The execution's snapshot: status, stream position, pending interrupts, subscribers. */
  snapshot(executionId: string, options: CallOptions = {}): Promise<ExecutionSnapshot> {
    return this.#http.snapshot(executionId, options.signal)
  }

  /** The final result, waiting up to `wait` ms for it; `{ status }` alone while still running. */
  result<F = unknown>(
    executionId: string,
    options: { wait?: number } & CallOptions = {},
  ): Promise<ResultResponse<ResultOfFlow<FlowOf<Flows, F>>>> {
    return this.#http.result(executionId, options.wait, options.signal)
  }

  /**
   * Watches one execution; each seq reaches `onEvent` exactly once, in order, across reconnects.
   * Several subscriptions of one execution are independent, each from its own `since`.
   */
  subscribe<F = unknown>(
    executionId: string,
    handlers: SubscribeHandlers<StreamDataOf<FlowOf<Flows, F>>> = {},
  ): SubscriptionHandle {
    return this.#subscribe(executionId, handlers)
  }

  /** The execution's events as an async iterable, ending on `stream_end` or after `timeout` ms of silence. */
  stream<F = unknown>(
    executionId: string,
    options: StreamOptions = {},
  ): AsyncIterable<StreamEvent<StreamDataOf<FlowOf<Flows, F>>>> {
    return iterateStream<StreamDataOf<FlowOf<Flows, F>>>(
      (handlers, onFinish) => this.#subscribe(executionId, handlers, onFinish),
      options,
    )
  }

  /** Stops the execution's runtime stream for every subscriber (admin role); the execution runs on. */
  async stopStream(
    executionId: string,
    options: CallOptions & { token?: string } = {},
  ): Promise<StopStreamResult> {
    const ack = await this.#adminCommand('stop_stream', executionId, options)
    return ack.alreadyStopped === true ? { alreadyStopped: true } : { stopped: true }
  }

  /**
   * Cancels the execution (admin role): its `data.signal` aborts, so a model request it makes is
   * aborted too. `token`: an admin token of this execution, as for stopStream.
   */
  async cancel(executionId: string, options: CallOptions & { token?: string } = {}): Promise<CancelResult> {
    const ack = await this.#adminCommand('cancel', executionId, options)
    return ack.alreadyEnded === true ? { alreadyEnded: true } : { cancelled: true }
  }

  /**
   * stop_stream or cancel over the socket (the server also takes the subscription's token), or
   * over HTTP while on SSE, with the call's token, else the subscription's, in the header.
   */
  #adminCommand(
    type: 'stop_stream' | 'cancel',
    executionId: string,
    options: CallOptions & { token?: string },
  ): Promise<Record<string, unknown>> {
    if (!this.#overSse)
      return this.#commandOnSocket(this.#command(type, executionId, options.token), true, options.signal)
    const path = type === 'cancel' ? 'cancel' : 'stop-stream'
    return this.#http.command(executionId, path, options.signal, this.#tokenOf(executionId, options))
  }

  /**
   * A command over the socket; one refused with `token_expired` (the token it relied on ran out,
   * so it was not applied) is sent once more with a token from `getToken`.
   */
  async #commandOnSocket(
    frame: CommandFrame,
    retry: boolean,
    signal: AbortSignal | undefined,
  ): Promise<AckFrame> {
    try {
      return await this.#request(frame, retry, signal)
    } catch (err) {
      const getToken = this.#options.getToken
      if (!getToken || !isFlowcastError(err, 'token_expired')) throw err
      const token = await getToken({ executionId: frame.executionId, reason: 'expired' })
      if (!token) throw err
      return this.#request({ ...frame, id: this.#id('c'), token }, retry, signal)
    }
  }

  /** The token for a call about `executionId`: the call's own, else its subscription's. */
  #tokenOf(executionId: string, options: { token?: string }): string | undefined {
    return options.token ?? this.#channels.get(executionId)?.token
  }

  /** Resumes a paused execution at interrupt `interruptId` with `value` (admin role). */
  async continue(
    executionId: string,
    interruptId: string,
    value?: unknown,
    options: CallOptions & { token?: string } = {},
  ): Promise<void> {
    if (this.#overSse)
      return this.#http.continue(
        executionId,
        interruptId,
        value,
        options.signal,
        this.#tokenOf(executionId, options),
      )
    const frame = this.#command('continue', executionId, options.token) as CommandFrame & { type: 'continue' }
    frame.interruptId = interruptId
    if (value !== undefined) frame.value = value
    // Not retried after a drop: the server may have applied it already.
    await this.#commandOnSocket(frame, false, options.signal)
  }

  /** Closes the socket for good; pending calls fail with `connection_closed`, streams end. */
  close(): void {
    if (this.#closed) return
    this.#closed = true
    this.#abort.abort()
    this.#stopEnvironment?.()
    for (const timer of this.#timers) clearTimeout(timer)
    this.#timers.clear()
    this.#unsubscribes.reset()
    const closed = new FlowcastError('connection_closed', 'the client is closed')
    for (const p of [...this.#pending.values()]) this.#settle(p, closed)
    for (const channel of [...this.#channels.values()]) channel.terminate(null)
    this.#channels.clear()
    this.#conn.close()
    this.#stateListeners.clear()
  }

  #subscribe<T>(
    executionId: string,
    handlers: SubscribeHandlers<T>,
    onFinish?: (err: FlowcastError | null) => void,
  ): SubscriptionHandle {
    if (this.#closed || this.#conn.state === 'closed')
      throw new FlowcastError('connection_closed', 'the client is closed')
    const sub = new Subscription<T>(executionId, handlers, onFinish)
    const signal = handlers.signal
    if (signal?.aborted) {
      sub.finish(null)
      return sub
    }
    this.connect()
    let channel = this.#channels.get(executionId)
    if (!channel) {
      channel = new Channel(executionId, this.#host, handlers.token)
      this.#channels.set(executionId, channel)
    }
    channel.add(sub)
    signal?.addEventListener('abort', () => sub.finish(null), { once: true })
    return sub
  }

  #command(
    type: 'stop_stream' | 'cancel' | 'continue',
    executionId: string,
    token: string | undefined,
  ): CommandFrame {
    const frame = { type, id: this.#id('c'), executionId } as CommandFrame
    if (token !== undefined) frame.token = token
    return frame
  }

  #openSse(channel: Channel, since: number, token: string | undefined): () => void {
    let stop: (() => void) | null = null
    let stopped = false
    const executionId = channel.executionId
    const request: TokenRequest = { executionId, reason: 'connect' }
    void (async () => {
      const bearer = token ?? (await this.#http.bearer(request))
      if (stopped) return
      // The stream carries a ticket for this one stream, traded for the token in a header: the token
      // itself never goes into a URL, and an EventSource could open the same URL.
      const ticket = bearer && (await this.#http.streamTicket(executionId, bearer))
      if (stopped) return
      const url = this.#http.streamUrl(executionId)
      stop = openSse({
        url: ticket ? `${url}?ticket=${encodeURIComponent(ticket)}` : url,
        fetch: this.#fetch(),
        since,
        idleMs: SSE_IDLE_MS,
        onFrame: (frame) => {
          if ('executionId' in frame && frame.executionId === executionId) channel.receive(frame)
        },
        onBadFrame: (err) => channel.reportError(err),
        onClose: (err) => channel.sseClosed(err),
      })
    })().catch((err) => {
      if (!stopped)
        channel.sseClosed(
          err instanceof FlowcastError
            ? err
            : new FlowcastError('unauthorized', 'getToken failed', { cause: err }),
        )
    })
    return () => {
      stopped = true
      stop?.()
    }
  }

  #request(
    frame: ClientFrame & { id: string | number },
    retry: boolean,
    signal?: AbortSignal,
  ): Promise<AckFrame> {
    if (this.#closed) return Promise.reject(new FlowcastError('connection_closed', 'the client is closed'))
    if (signal?.aborted) return Promise.reject(abortError(signal))
    return new Promise<AckFrame>((resolve, reject) => {
      const id = String(frame.id)
      const pending: Pending = {
        id,
        frame,
        retry,
        resolve,
        reject,
        signal,
        onAbort: () => {
          this.#conn.unqueue(frame)
          this.#settle(pending, abortError(signal!))
        },
        timer: setTimeout(() => {
          this.#conn.unqueue(frame)
          this.#settle(
            pending,
            new FlowcastError('timeout', `no reply to ${frame.type} within ${this.#requestTimeoutMs} ms`),
          )
        }, this.#requestTimeoutMs),
      }
      try {
        this.#conn.send(frame)
      } catch (err) {
        clearTimeout(pending.timer)
        reject(err)
        return
      }
      signal?.addEventListener('abort', pending.onAbort, { once: true })
      this.#pending.set(id, pending)
    })
  }

  #settle(p: Pending, outcome: FlowcastError | AckFrame): void {
    if (this.#pending.get(p.id) !== p) return
    this.#pending.delete(p.id)
    clearTimeout(p.timer)
    p.signal?.removeEventListener('abort', p.onAbort)
    if (outcome instanceof FlowcastError) p.reject(outcome)
    else p.resolve(outcome)
  }

  #dispatch(frame: ServerFrame): void {
    switch (frame.type) {
      case 'ack': {
        const p = this.#pending.get(String(frame.id))
        if (p) this.#settle(p, frame)
        else this.#unsubscribes.onAck(String(frame.id))
        return
      }
      case 'pong':
      case 'hello':
        return
      case 'error': {
        if (frame.id !== undefined) {
          const id = String(frame.id)
          const p = this.#pending.get(id)
          if (p) {
            this.#settle(p, new FlowcastError(frame.code as FlowcastErrorCode, frame.message))
            return
          }
          for (const channel of this.#channels.values()) {
            if (channel.awaitingId === id) {
              channel.receive(frame)
              return
            }
          }
          if (this.#unsubscribes.onError(id, frame.code)) return
          // A reply nobody waits for (to a ping, or to an unsubscribe or subscribe already forgotten).
          if (id.startsWith('u') || id.startsWith('ping') || id.startsWith('s')) return
        }
        const channel = frame.executionId ? this.#channels.get(frame.executionId) : undefined
        if (channel) channel.receive(frame)
        else this.#report(new FlowcastError(frame.code as FlowcastErrorCode, frame.message))
        return
      }
      default:
        this.#channels.get(frame.executionId)?.receive(frame)
    }
  }

  #badFrame(err: FlowcastError, raw: unknown): void {
    const executionId =
      typeof raw === 'object' &&
      raw !== null &&
      typeof (raw as { executionId?: unknown }).executionId === 'string'
        ? (raw as { executionId: string }).executionId
        : undefined
    const channel = executionId ? this.#channels.get(executionId) : undefined
    if (channel) {
      channel.reportError(err)
      return
    }
    if (this.#options.onError) {
      this.#report(err)
      return
    }
    for (const c of [...this.#channels.values()]) c.reportError(err)
  }

  #onDrop(terminal: FlowcastError | null): void {
    this.#unsubscribes.reset()
    for (const channel of this.#channels.values()) channel.suspend()
    if (terminal) {
      for (const p of [...this.#pending.values()]) this.#settle(p, terminal)
      for (const channel of [...this.#channels.values()]) channel.terminate(terminal)
      this.#channels.clear()
      this.#report(terminal)
      return
    }
    for (const p of [...this.#pending.values()]) {
      if (p.retry) {
        // Held until the next socket; whether it is still queued or was sent, it goes out once more.
        this.#conn.unqueue(p.frame)
        try {
          this.#conn.send(p.frame)
        } catch (err) {
          this.#settle(p, err as FlowcastError)
        }
      } else if (!this.#conn.isQueued(p.frame)) {
        // A sent command may have been applied already; only one that never left the queue waits on.
        this.#settle(
          p,
          new FlowcastError(
            'connection_closed',
            `the connection dropped before ${p.frame.type} was answered`,
          ),
        )
      }
    }
  }

  #report(err: FlowcastError): void {
    const onError = this.#options.onError
    if (!onError) return
    try {
      onError(err)
    } catch {
      // an error handler that throws has nowhere left to report to
    }
  }

  #id(prefix: string): string {
    return `${prefix}${++this.#nextId}`
  }
}

/** `ws(s)://` or `http(s)://` base -> the HTTP base without a trailing slash. */
function httpBase(base: string): string {
  const u = new URL(base)
  if (u.protocol === 'ws:' || u.protocol === 'wss:') {
    u.protocol = u.protocol === 'wss:' ? 'https:' : 'http:'
    u.pathname = u.pathname.replace(/\/ws\/?$/, '')
  }
  u.search = ''
  u.hash = ''
  return u.toString().replace(/\/$/, '')
}

/** The WebSocket URL for a base: a `ws(s)://` URL is taken as it is, an HTTP one gets `wsPath`. */
function wsUrl(base: string, wsPath: string, token: string | undefined): string {
  const u = new URL(base)
  if (u.protocol === 'http:' || u.protocol === 'https:') {
    u.protocol = u.protocol === 'https:' ? 'wss:' : 'ws:'
    u.pathname = `${u.pathname.replace(/\/$/, '')}${wsPath.startsWith('/') ? wsPath : `/${wsPath}`}`
  }
  if (token) u.searchParams.set('token', token)
  return u.toString()
}
