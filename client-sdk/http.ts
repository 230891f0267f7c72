/**
 * The HTTP half of the client: starting executions and reading results. Rotates across the node
 * URLs when one cannot be reached; every request is aborted by `close()`.
 */

import type { ExecutionSnapshot, FlowInfo, ResultResponse, StartResponse } from '@flowcast/protocol'
import { FlowcastError, type FlowcastErrorCode } from '@flowcast/protocol'
import type { FetchLike } from './types.ts'

export interface HttpOptions {
  /** HTTP base URLs (`http(s)://host[:port][/prefix]`), without a trailing slash. */
  bases: string[]
  fetch: FetchLike
  token?: string | undefined
  apiKey?: string | undefined
  signal: AbortSignal
}

/** Small typed wrapper over the REST routes of DESIGN section 5. */
export class HttpApi {
  #index = 0
  readonly #opts: HttpOptions

  constructor(opts: HttpOptions) {
    this.#opts = opts
  }

  /** POST /api/flows/:name/executions with the API key. */
  async start(flow: string, input: unknown): Promise<StartResponse> {
    const { status, body } = await this.#request(
      'POST',
      `/api/flows/${encodeURIComponent(flow)}/executions`,
      this.#opts.apiKey ?? this.#opts.token,
      { input },
    )
    if (status !== 201 && status !== 200) throw toError(status, body)
    return body as StartResponse
  }

  /** GET /api/flows: the flows the server runs, with their contracts as JSON Schema. */
  async flows(): Promise<FlowInfo[]> {
    const { status, body } = await this.#request('GET', '/api/flows', this.#opts.apiKey ?? this.#opts.token)
    if (status === 200 && isObject(body) && Array.isArray(body.flows)) return body.flows as FlowInfo[]
    throw toError(status, body)
  }

  /** GET /api/executions/:id: the execution's snapshot. */
  async snapshot(executionId: string): Promise<ExecutionSnapshot> {
    const { status, body } = await this.#request(
      'GET',
      `/api/executions/${encodeURIComponent(executionId)}`,
      this.#opts.token ?? this.#opts.apiKey,
    )
    if (status === 200 && isObject(body)) return body as unknown as ExecutionSnapshot
    throw toError(status, body)
  }

  /** GET /api/executions/:id/result?wait=ms: 200 when finished, 202 with the status while running. */
  async result<R>(executionId: string, waitMs: number | undefined): Promise<ResultResponse<R>> {
    const query = waitMs !== undefined && waitMs > 0 ? `?wait=${Math.floor(waitMs)}` : ''
    const { status, body } = await this.#request(
      'GET',
      `/api/executions/${encodeURIComponent(executionId)}/result${query}`,
      this.#opts.token ?? this.#opts.apiKey,
    )
    if ((status === 200 || status === 202) && isObject(body) && typeof body.status === 'string')
      return body as ResultResponse<R>
    throw toError(status, body)
  }

  async #request(
    method: string,
    path: string,
    bearer: string | undefined,
    json?: unknown,
  ): Promise<{ status: number; body: unknown }> {
    const headers: Record<string, string> = { accept: 'application/json' }
    if (bearer) headers.authorization = `Bearer ${bearer}`
    if (json !== undefined) headers['content-type'] = 'application/json'
    const init: RequestInit = { method, headers, signal: this.#opts.signal }
    if (json !== undefined) init.body = JSON.stringify(json)
    const bases = this.#opts.bases
    let lastErr: unknown
    for (let tried = 0; tried < bases.length; tried++) {
      const index = (this.#index + tried) % bases.length
      let res: Response
      try {
        res = await this.#opts.fetch(`${bases[index]}${path}`, init)
      } catch (err) {
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

function isObject(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null
}

/** Turns an HTTP error body `{ error: { code, message } }` into a FlowcastError. */
function toError(status: number, body: unknown): FlowcastError {
  const err = isObject(body) && isObject(body.error) ? body.error : null
  if (err && typeof err.code === 'string')
    return new FlowcastError(err.code as FlowcastErrorCode, String(err.message ?? err.code), {
      details: { status },
    })
  const fallback: FlowcastErrorCode =
    status === 401 ? 'unauthorized' : status === 403 ? 'forbidden' : status === 404 ? 'not_found' : 'internal'
  return new FlowcastError(fallback, `HTTP ${status}`, { details: { status, body } })
}
