/**
 * The HTTP half of the client: starting executions, reading results, and the commands while the
 * socket is down (the SSE fallback). Rotates across the node URLs when one cannot be reached;
 * every request is aborted by `close()` or by the call's own signal.
 */

import type { ExecutionSnapshot, FlowInfo, ResultResponse, StartResponse } from '@flowcast/protocol'
import { FlowcastError, type FlowcastErrorCode } from '@flowcast/protocol'
import type { FetchLike, TokenRequest } from './types.ts'

export interface HttpOptions {
  /** HTTP base URLs (`http(s)://host[:port][/prefix]`), without a trailing slash. */
  bases: string[]
  fetch: FetchLike
  /** The bearer for a call about `executionId` (or for the server itself when absent). */
  bearer(request: TokenRequest & { key?: boolean }): Promise<string | undefined>
  /** True when a refused bearer is worth asking for once more (there is a `getToken`). */
  canRefresh: boolean
  signal: AbortSignal
}

/** Small typed wrapper over the REST routes of DESIGN section 5. */
export class HttpApi {
  #index = 0
  readonly #opts: HttpOptions

  constructor(opts: HttpOptions) {
    this.#opts = opts
  }

  /** The bearer for a call or stream about `request.executionId`. */
  bearer(request: TokenRequest): Promise<string | undefined> {
    return this.#opts.bearer(request)
  }

  /** The base URL that answered last. */
  get base(): string {
    return this.#opts.bases[this.#index]!
  }

  /** POST /api/flows/:name/executions with the API key. */
  async start(flow: string, input: unknown, signal?: AbortSignal): Promise<StartResponse> {
    const path = `/api/flows/${encodeURIComponent(flow)}/executions`
    const { status, body } = await this.#request('POST', path, undefined, signal, { input }, true)
    if (status !== 201 && status !== 200) throw errorOf(status, body)
    return body as StartResponse
  }

  /** GET /api/flows: the flows the server runs, with their contracts as JSON Schema. */
  async flows(signal?: AbortSignal): Promise<FlowInfo[]> {
    const { status, body } = await this.#request('GET', '/api/flows', undefined, signal, undefined, true)
    if (status === 200 && isObject(body) && Array.isArray(body.flows)) return body.flows as FlowInfo[]
    throw errorOf(status, body)
  }

  /** GET /api/executions/:id: the execution's snapshot. */
  async snapshot(executionId: string, signal?: AbortSignal): Promise<ExecutionSnapshot> {
    const { status, body } = await this.#request('GET', execPath(executionId, ''), executionId, signal)
    if (status === 200 && isObject(body)) return body as unknown as ExecutionSnapshot
    throw errorOf(status, body)
  }

  /** GET /api/executions/:id/result?wait=ms: 200 when finished, 202 with the status while running. */
  async result<R>(
    executionId: string,
    waitMs: number | undefined,
    signal?: AbortSignal,
  ): Promise<ResultResponse<R>> {
    const query = waitMs !== undefined && waitMs > 0 ? `?wait=${Math.floor(waitMs)}` : ''
    const path = execPath(executionId, `/result${query}`)
    const { status, body } = await this.#request('GET', path, executionId, signal)
    if ((status === 200 || status === 202) && isObject(body) && typeof body.status === 'string')
      return body as ResultResponse<R>
    throw errorOf(status, body)
  }

  /**
   * POST /api/executions/:id/stop-stream or /cancel (admin): a command while the socket cannot
   * connect, with `token` (else the client's credential) in the header.
   */
  async command(
    executionId: string,
    command: 'stop-stream' | 'cancel',
    signal?: AbortSignal,
    token?: string,
  ): Promise<Record<string, unknown>> {
    const path = execPath(executionId, `/${command}`)
    const { status, body } = await this.#request('POST', path, executionId, signal, {}, false, token)
    if (status === 200 && isObject(body)) return body
    throw errorOf(status, body)
  }

  /** POST /api/executions/:id/stream-ticket: trades `token` for a ticket that opens the SSE stream. */
  async streamTicket(executionId: string, token: string): Promise<string> {
    const path = execPath(executionId, '/stream-ticket')
    const { status, body } = await this.#request('POST', path, executionId, undefined, {}, false, token)
    if (status === 201 && isObject(body) && typeof body.ticket === 'string') return body.ticket
    throw errorOf(status, body)
  }

  /** POST /api/executions/:id/interrupts/:iid/continue (admin). */
  async continue(
    executionId: string,
    interruptId: string,
    value: unknown,
    signal?: AbortSignal,
    token?: string,
  ): Promise<void> {
    const path = execPath(executionId, `/interrupts/${encodeURIComponent(interruptId)}/continue`)
    const { status, body } = await this.#request('POST', path, executionId, signal, { value }, false, token)
    if (status !== 200) throw errorOf(status, body)
  }

  /** The URL of the execution's SSE stream on the node that answered last. */
  streamUrl(executionId: string): string {
    return `${this.base}${execPath(executionId, '/stream')}`
  }

  async #request(
    method: string,
    path: string,
    executionId: string | undefined,
    signal: AbortSignal | undefined,
    json?: unknown,
    key = false,
    token?: string,
  ): Promise<{ status: number; body: unknown }> {
    const first = await this.#once(method, path, executionId, signal, json, key, 'connect', token)
    // A token that ran out between two calls is routine: ask for a fresh one and try once more
    // (a token the caller gave is the caller's to refresh).
    if (first.status !== 401 || !this.#opts.canRefresh || token) return first
    return this.#once(method, path, executionId, signal, json, key, 'expired', undefined)
  }

  async #once(
    method: string,
    path: string,
    executionId: string | undefined,
    signal: AbortSignal | undefined,
    json: unknown,
    key: boolean,
    reason: TokenRequest['reason'],
    token: string | undefined,
  ): Promise<{ status: number; body: unknown }> {
    const request: TokenRequest & { key?: boolean } = { reason, key }
    if (executionId !== undefined) request.executionId = executionId
    const bearer = token ?? (await this.#opts.bearer(request))
    const headers: Record<string, string> = { accept: 'application/json' }
    if (bearer) headers.authorization = `Bearer ${bearer}`
    if (json !== undefined) headers['content-type'] = 'application/json'
    const both = signal ? anySignal(this.#opts.signal, signal) : this.#opts.signal
    const init: RequestInit = { method, headers, signal: both }
    if (json !== undefined) init.body = JSON.stringify(json)
    const bases = this.#opts.bases
    let lastErr: unknown
    for (let tried = 0; tried < bases.length; tried++) {
      const index = (this.#index + tried) % bases.length
      let res: Response
      try {
        res = await this.#opts.fetch(`${bases[index]}${path}`, init)
      } catch (err) {
        if (signal?.aborted)
          throw new FlowcastError('aborted', 'the call was aborted', { cause: signal.reason })
        if (this.#opts.signal.aborted) throw new FlowcastError('connection_closed', 'the client is closed')
        lastErr = err
        continue
      }
      this.#index = index
      const text = await res.text()
      let body: unknown = null
      if (text) {
        try {
          body = JSON.parse(text)
        } catch {
          body = text
        }
      }
      return { status: res.status, body }
    }
    throw new FlowcastError('connection_closed', `no server reachable for ${method} ${path}`, {
      cause: lastErr,
    })
  }
}

function execPath(executionId: string, rest: string): string {
  return `/api/executions/${encodeURIComponent(executionId)}${rest}`
}

/** A signal aborted when either is. */
function anySignal(a: AbortSignal, b: AbortSignal): AbortSignal {
  const any = (AbortSignal as { any?: (signals: AbortSignal[]) => AbortSignal }).any
  if (any) return any([a, b])
  const ctrl = new AbortController()
  for (const s of [a, b]) {
    if (s.aborted) ctrl.abort(s.reason)
    else s.addEventListener('abort', () => ctrl.abort(s.reason), { once: true })
  }
  return ctrl.signal
}

function isObject(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null
}

/** Turns an HTTP error body `{ error: { code, message } }` into a FlowcastError. */
export function errorOf(status: number, body: unknown): FlowcastError {
  const err = isObject(body) && isObject(body.error) ? body.error : null
  if (err && typeof err.code === 'string')
    return new FlowcastError(err.code as FlowcastErrorCode, String(err.message ?? err.code), {
      details: { status },
    })
  const fallback: FlowcastErrorCode =
    status === 401 ? 'unauthorized' : status === 403 ? 'forbidden' : status === 404 ? 'not_found' : 'internal'
  return new FlowcastError(fallback, `HTTP ${status}`, { details: { status, body } })
}
