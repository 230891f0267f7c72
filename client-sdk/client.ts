/**
 * The flowcast client: one socket shared by every subscription of the client, request/reply
 * bookkeeping for commands, and the HTTP calls. See index.ts for the public face.
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
import { FlowcastError, type FlowcastErrorCode } from '@flowcast/protocol'
import { Connection, DEFAULT_RECONNECT } from './connection.ts'
import { HttpApi } from './http.ts'
import { iterateStream } from './stream.ts'
import { Subscription, type SubscriptionHost } from './subscription.ts'
import type {
  CancelResult,
  ClientOptions,
  ConnectionState,
  FetchLike,
  InputOfFlow,
  ResultOfFlow,
  StopStreamResult,
  StreamDataOf,
  StreamEvent,
  StreamOptions,
  SubscribeHandlers,
  SubscriptionHandle,
  WebSocketConstructor,
} from './types.ts'
import { Unsubscribes } from './unsubscribes.ts'

const DEFAULT_MAX_QUEUE = 1_000
const DEFAULT_REQUEST_TIMEOUT_MS = 10_000

interface Pending {
  id: string
  frame: ClientFrame
  /** Sent again on the next socket when the current one drops before the reply (idempotent commands). */
  retry: boolean
  resolve(frame: AckFrame): void
  reject(err: FlowcastError): void
  timer: ReturnType<typeof setTimeout>
}

/** A client of one flowcast service (one or several nodes). */
export class FlowcastClient {
  readonly #conn: Connection
  readonly #http: HttpApi
  readonly #abort = new AbortController()
  readonly #subs = new Map<string, Subscription<any>>()
  readonly #pending = new Map<string, Pending>()
  readonly #timers = new Set<ReturnType<typeof setTimeout>>()
  readonly #stateListeners = new Set<(state: ConnectionState) => void>()
  readonly #onError: ((err: FlowcastError) => void) | undefined
  readonly #requestTimeoutMs: number
  #nextId = 0
  #closed = false
  readonly #host: SubscriptionHost
  readonly #unsubscribes: Unsubscribes

  constructor(options: ClientOptions) {
    const bases = options.urls?.length ? options.urls : options.url ? [options.url] : []
    if (bases.length === 0) throw new FlowcastError('bad_request', 'createClient needs `url` or `urls`')
    const WebSocketImpl = (options.WebSocket ?? (globalThis as { WebSocket?: unknown }).WebSocket) as
      | WebSocketConstructor
      | undefined
    if (!WebSocketImpl)
      throw new FlowcastError(
        'bad_request',
        'no global WebSocket here: pass one (in Node 20, the `ws` package)',
      )
    const fetchImpl = (options.fetch ?? globalThis.fetch?.bind(globalThis)) as FetchLike | undefined
    if (!fetchImpl) throw new FlowcastError('bad_request', 'no global fetch here: pass one')

    this.#onError = options.onError
    this.#requestTimeoutMs = options.requestTimeoutMs ?? DEFAULT_REQUEST_TIMEOUT_MS
    // The socket carries the token, or else the API key (the server takes it wherever a token goes).
    // An API key is long-lived: it only ever travels in an `auth` frame, never in a URL that logs keep.
    const socketCredential = options.token ?? options.apiKey
    const tokenInFrame =
      socketCredential !== undefined && (options.tokenInFrame === true || options.token === undefined)
    this.#http = new HttpApi({
      bases: bases.map(httpBase),
      fetch: fetchImpl,
      token: options.token,
      apiKey: options.apiKey,
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
      watches: (executionId) => this.#subs.get(executionId)?.ended === false,
      later,
    })
    this.#host = {
      sendSubscribe: (sub) => this.#sendSubscribe(sub),
      sendUnsubscribe: (sub) => this.#unsubscribes.send(sub.executionId),
      forget: (sub) => {
        if (this.#subs.get(sub.executionId) === sub) this.#subs.delete(sub.executionId)
      },
      reportHandlerError: (err) =>
        this.#report(new FlowcastError('internal', 'a handler threw', { cause: err })),
      later,
    }
    const reconnect = options.reconnect === false ? false : { ...DEFAULT_RECONNECT, ...options.reconnect }
    const connOptions: ConstructorParameters<typeof Connection>[0] = {
      urls: bases.map((b) => wsUrl(b, options.wsPath ?? '/ws', tokenInFrame ? undefined : socketCredential)),
      WebSocket: WebSocketImpl,
      reconnect,
      maxQueue: options.maxQueue ?? DEFAULT_MAX_QUEUE,
    }
    if (tokenInFrame) connOptions.authToken = socketCredential!
    this.#conn = new Connection(connOptions, {
      onOpen: () => {
        for (const sub of [...this.#subs.values()]) sub.resume()
      },
      onFrame: (frame) => this.#dispatch(frame),
      onBadFrame: (err, raw) => this.#badFrame(err, raw),
      onDrop: (terminal) => this.#onDrop(terminal),
      onState: (state) => {
        for (const listener of [...this.#stateListeners]) {
          try {
            listener(state)
          } catch (err) {
            this.#report(new FlowcastError('internal', 'a connection state listener threw', { cause: err }))
          }
        }
      },
    })
  }

  /** 'connecting' | 'open' | 'reconnecting' | 'closed'. */
  get connectionState(): ConnectionState {
    return this.#conn.state
  }

  /** Calls `listener` on every connection state change; returns a function that stops it. */
  onConnectionState(listener: (state: ConnectionState) => void): () => void {
    this.#stateListeners.add(listener)
    return () => this.#stateListeners.delete(listener)
  }

  /** Starts an execution of `flow` (needs the API key when the server has auth on). */
  start<F = unknown>(flow: string, input?: InputOfFlow<F>): Promise<StartResponse> {
    return this.#http.start(flow, input)
  }

  /** The flows the server runs, with their contracts as JSON Schema. */
  flows(): Promise<FlowInfo[]> {
    return this.#http.flows()
  }

  /** The execution's snapshot: status, stream position, pending interrupts, subscribers. */
  snapshot(executionId: string): Promise<ExecutionSnapshot> {
    return this.#http.snapshot(executionId)
  }

  /** The final result, waiting up to `wait` ms for it; `{ status }` alone while still running. */
  result<F = unknown>(
    executionId: string,
    options: { wait?: number } = {},
  ): Promise<ResultResponse<ResultOfFlow<F>>> {
    return this.#http.result<ResultOfFlow<F>>(executionId, options.wait)
  }

  /** Watches one execution; each seq reaches `onEvent` exactly once, in order, across reconnects. */
  subscribe<F = unknown>(
    executionId: string,
    handlers: SubscribeHandlers<StreamDataOf<F>> = {},
  ): SubscriptionHandle {
    return this.#subscribe(executionId, handlers)
  }

  /** The execution's events as an async iterable, ending on `stream_end` or after `timeout` ms of silence. */
  stream<F = unknown>(
    executionId: string,
    options: StreamOptions = {},
  ): AsyncIterable<StreamEvent<StreamDataOf<F>>> {
    return iterateStream<StreamDataOf<F>>(
      (handlers, onFinish) => this.#subscribe(executionId, handlers, onFinish),
      options,
    )
  }

  /** Stops the execution's runtime stream for every subscriber (admin role); the execution runs on. */
  async stopStream(executionId: string): Promise<StopStreamResult> {
    const ack = await this.#request({ type: 'stop_stream', id: this.#id('c'), executionId }, true)
    return ack.alreadyStopped === true ? { alreadyStopped: true } : { stopped: true }
  }

  /** Cancels the execution (admin role): its `data.signal` aborts, so a model request it makes is aborted too. */
  async cancel(executionId: string): Promise<CancelResult> {
    const ack = await this.#request({ type: 'cancel', id: this.#id('c'), executionId }, true)
    return ack.alreadyEnded === true ? { alreadyEnded: true } : { cancelled: true }
  }

  /** Resumes a paused execution at interrupt `interruptId` with `value` (admin role). */
  async continue(executionId: string, interruptId: string, value?: unknown): Promise<void> {
    const frame: ClientFrame = { type: 'continue', id: this.#id('c'), executionId, interruptId }
    if (value !== undefined) frame.value = value
    // Not retried after a drop: the server may have applied it already.
    await this.#request(frame, false)
  }

  /** Closes the socket for good; pending calls fail with `connection_closed`, streams end. */
  close(): void {
    if (this.#closed) return
    this.#closed = true
    this.#abort.abort()
    for (const timer of this.#timers) clearTimeout(timer)
    this.#timers.clear()
    this.#unsubscribes.reset()
    const closed = new FlowcastError('connection_closed', 'the client is closed')
    for (const p of [...this.#pending.values()]) this.#settle(p, closed)
    for (const sub of [...this.#subs.values()]) sub.terminate(null)
    this.#subs.clear()
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
    const current = this.#subs.get(executionId)
    if (current && !current.ended)
      throw new FlowcastError('already_subscribed', `this client already watches ${executionId}`)
    const sub = new Subscription<T>(executionId, handlers, this.#host, onFinish)
    this.#subs.set(executionId, sub)
    sub.resume()
    return sub
  }

  #sendSubscribe(sub: Subscription<any>): string | null {
    const id = this.#id('s')
    const frame: ClientFrame = { type: 'subscribe', id, executionId: sub.executionId }
    if (sub.lastSeq > 0) frame.since = sub.lastSeq
    return this.#conn.sendIfOpen(frame) ? id : null
  }

  #request(frame: ClientFrame & { id: string | number }, retry: boolean): Promise<AckFrame> {
    if (this.#closed) return Promise.reject(new FlowcastError('connection_closed', 'the client is closed'))
    return new Promise<AckFrame>((resolve, reject) => {
      const id = String(frame.id)
      const pending: Pending = {
        id,
        frame,
        retry,
        resolve,
        reject,
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
      this.#pending.set(id, pending)
    })
  }

  #settle(p: Pending, outcome: FlowcastError | AckFrame): void {
    if (this.#pending.get(p.id) !== p) return
    this.#pending.delete(p.id)
    clearTimeout(p.timer)
    if (outcome instanceof FlowcastError) p.reject(outcome)
    else p.resolve(outcome)
  }

  #dispatch(frame: ServerFrame): void {
    switch (frame.type) {
      case 'subscribed':
        this.#subs.get(frame.executionId)?.onSubscribed(frame)
        return
      case 'event':
        this.#subs.get(frame.executionId)?.onEvents([toEvent(frame)])
        return
      case 'events': {
        const sub = this.#subs.get(frame.executionId)
        if (sub) sub.onEvents(frame.items.map(toEvent))
        return
      }
      case 'gap':
        this.#subs.get(frame.executionId)?.onGap(frame)
        return
      case 'stream_end':
        this.#subs.get(frame.executionId)?.onStreamEnd(frame)
        return
      case 'status':
        this.#subs.get(frame.executionId)?.onStatus(frame.status)
        return
      case 'presence':
        this.#subs.get(frame.executionId)?.onPresence(frame.subscribers)
        return
      case 'ack': {
        const p = this.#pending.get(String(frame.id))
        if (p) this.#settle(p, frame)
        else this.#unsubscribes.onAck(String(frame.id))
        return
      }
      case 'pong':
        return
      case 'error': {
        if (frame.id !== undefined) {
          const id = String(frame.id)
          const p = this.#pending.get(id)
          if (p) {
            this.#settle(p, new FlowcastError(frame.code as FlowcastErrorCode, frame.message))
            return
          }
          for (const sub of this.#subs.values()) {
            if (sub.awaiting === id) {
              sub.onSubscribeError(frame)
              return
            }
          }
          if (this.#unsubscribes.onError(id, frame.code)) return
          // A reply nobody waits for (to a ping, or to an unsubscribe already forgotten).
          if (id.startsWith('u') || id.startsWith('ping')) return
        }
        const err = new FlowcastError(frame.code as FlowcastErrorCode, frame.message)
        const sub = frame.executionId ? this.#subs.get(frame.executionId) : undefined
        if (sub) sub.reportError(err)
        else this.#report(err)
        return
      }
      case 'hello':
        return
    }
  }

  #badFrame(err: FlowcastError, raw: unknown): void {
    const executionId =
      typeof raw === 'object' &&
      raw !== null &&
      typeof (raw as { executionId?: unknown }).executionId === 'string'
        ? (raw as { executionId: string }).executionId
        : undefined
    const sub = executionId ? this.#subs.get(executionId) : undefined
    if (sub) {
      sub.reportError(err)
      return
    }
    if (this.#onError) {
      this.#report(err)
      return
    }
    for (const s of [...this.#subs.values()]) s.reportError(err)
  }

  #onDrop(terminal: FlowcastError | null): void {
    this.#unsubscribes.reset()
    for (const sub of this.#subs.values()) sub.suspend()
    if (terminal) {
      for (const p of [...this.#pending.values()]) this.#settle(p, terminal)
      for (const sub of [...this.#subs.values()]) sub.terminate(terminal)
      this.#subs.clear()
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
    if (!this.#onError) return
    try {
      this.#onError(err)
    } catch {
      // an error handler that throws has nowhere left to report to
    }
  }

  #id(prefix: string): string {
    return `${prefix}${++this.#nextId}`
  }
}

function toEvent(item: { seq: number; ts: number; source?: string | undefined; data: unknown }): StreamEvent {
  return item.source === undefined
    ? { seq: item.seq, ts: item.ts, data: item.data }
    : { seq: item.seq, ts: item.ts, source: item.source, data: item.data }
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
