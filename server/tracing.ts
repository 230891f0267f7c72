/**
 * OpenTelemetry spans through `@opentelemetry/api` only: without an SDK registered by the
 * application every call is the API's no-op, so flowcast costs nothing untraced and never ships
 * an exporter. Three kinds of span, each with `flowcast.execution_id` where there is one:
 *
 * - `HTTP <method> <route>` (server kind) per HTTP request;
 * - `execution <flow>` from start to the end of an execution (child of the request that started it);
 * - `chunk <name>` per chunk run (child of its execution's span, child flows included).
 *
 * Parents are set explicitly from the spans this server holds, not from the active context: the
 * API's default context manager is a no-op, and an execution outlives the request that started it.
 *
 * Without an SDK the API's spans record nothing, so none are made: a request or an execution that
 * begins while no tracer provider is registered gets no span (its chunks run unwrapped). The
 * contexts and no-op spans of every request, execution and chunk were 3.9% of an untraced
 * execution start (issue 18). An SDK registered later traces what begins after it.
 */

import type { ChunkRunner } from '@flowcast/flows'
import type { ExecutionStatus } from '@flowcast/protocol'
import {
  type Context,
  context,
  ProxyTracer,
  type Span,
  SpanKind,
  SpanStatusCode,
  type Tracer,
  trace,
} from '@opentelemetry/api'

/** The attribute every flowcast span about one execution carries. */
export const EXECUTION_ID = 'flowcast.execution_id'

/**
 * The tracer, looked up per use so that an SDK registered after the server started still counts;
 * undefined while none is: the API then answers with its proxy, whose spans record nothing.
 */
function tracer(): Tracer | undefined {
  const t = trace.getTracer('@flowcast/server')
  return t instanceof ProxyTracer ? undefined : t
}

/** Marks `span` failed with `err`'s message (and code, for FlowcastErrors). */
function recordFailure(span: Span, err: unknown): void {
  const code = (err as { code?: unknown } | null)?.code
  if (typeof code === 'string') span.setAttribute('flowcast.error_code', code)
  span.setStatus({ code: SpanStatusCode.ERROR, message: err instanceof Error ? err.message : String(err) })
}

/** The span of one HTTP request (undefined when untraced); `end` records the matched route and status. */
export function startHttpSpan(
  method: string,
  path: string,
):
  | {
      context: Context
      end(route: string | undefined, status: number, executionId?: string): void
    }
  | undefined {
  const span = tracer()?.startSpan(`HTTP ${method}`, {
    kind: SpanKind.SERVER,
    attributes: { 'http.request.method': method, 'url.path': path },
  })
  if (!span) return undefined
  return {
    context: trace.setSpan(context.active(), span),
    end(route, status, executionId) {
      if (route) {
        span.updateName(`HTTP ${method} ${route}`)
        span.setAttribute('http.route', route)
      }
      span.setAttribute('http.response.status_code', status)
      if (executionId) span.setAttribute(EXECUTION_ID, executionId)
      if (status >= 500) span.setStatus({ code: SpanStatusCode.ERROR })
      span.end()
    },
  }
}

/** The spans of the executions a server runs: one per execution, and its chunks under it. */
export class ExecutionSpans {
  readonly #spans = new Map<string, Span>()

  /**
   * The engine hook for one execution about to start: each chunk runs in a `chunk <name>` span
   * under the execution's span, which the first chunk (or `open`) creates under `parent`.
   * Undefined when untraced: the chunks run without a wrapper.
   */
  runner(flow: string, parent: Context | undefined): ChunkRunner | undefined {
    const t = tracer()
    if (!t) return undefined
    return async (chunk, run) => {
      const execSpan = this.#open(t, chunk.executionId, flow, parent)
      const span = t.startSpan(
        `chunk ${chunk.chunk}`,
        {
          kind: SpanKind.INTERNAL,
          attributes: {
            [EXECUTION_ID]: chunk.executionId,
            'flowcast.flow': chunk.flow,
            'flowcast.chunk': chunk.chunk,
          },
        },
        trace.setSpan(context.active(), execSpan),
      )
      try {
        return await run()
      } catch (err) {
        recordFailure(span, err)
        throw err
      } finally {
        span.end()
      }
    }
  }

  /** Opens the span of execution `executionId` under `parent` unless it is open or untraced. */
  open(executionId: string, flow: string, parent: Context | undefined): void {
    if (this.#spans.has(executionId)) return
    const t = tracer()
    if (t) this.#open(t, executionId, flow, parent)
  }

  #open(t: Tracer, executionId: string, flow: string, parent: Context | undefined): Span {
    let span = this.#spans.get(executionId)
    if (!span) {
      span = t.startSpan(
        `execution ${flow}`,
        { kind: SpanKind.INTERNAL, attributes: { [EXECUTION_ID]: executionId, 'flowcast.flow': flow } },
        parent ?? context.active(),
      )
      this.#spans.set(executionId, span)
    }
    return span
  }

  /** Ends the execution's span with its final status (failed with `error`); unknown ids are ignored. */
  end(executionId: string, status: ExecutionStatus, error?: { code: string; message: string }): void {
    const span = this.#spans.get(executionId)
    if (!span) return
    this.#spans.delete(executionId)
    span.setAttribute('flowcast.status', status)
    if (status === 'failed') {
      if (error) span.setAttribute('flowcast.error_code', error.code)
      span.setStatus({ code: SpanStatusCode.ERROR, ...(error ? { message: error.message } : {}) })
    }
    span.end()
  }

  /** Ends every open span (the server is closing). */
  close(): void {
    for (const span of this.#spans.values()) span.end()
    this.#spans.clear()
  }
}
