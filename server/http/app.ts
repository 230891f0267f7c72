/**
 * The HTTP adapter: Hono routes of DESIGN section 5 over the registry, the broker and the
 * rooms. Runtime-neutral (fetch in, Response out); SSE is a ReadableStream whose queue is the
 * peer's buffered amount, so a slow SSE reader is paused and caught up exactly like a socket.
 */
import type { IncomingMessage, ServerResponse } from 'node:http'
import {
  ContinueBody,
  type ExecutionSnapshot,
  FlowcastError,
  type FlowcastErrorCode,
  isFlowcastError,
  MintTokenBody,
  StartBody,
} from '@flowcast/protocol'
import { type Context, Hono } from 'hono'
import { bodyLimit } from 'hono/body-limit'
import { cors } from 'hono/cors'
import type { Logger } from 'pino'
import { z } from 'zod'
import type { AddressSlots } from '../address-slots.ts'
import type { AccessResolver, Principal } from '../auth/access.ts'
import type { Broker } from '../brokers/broker.ts'
import type { OutFrame, Peer, Rooms } from '../fanout/room.ts'
import { redactUrl } from '../log.ts'
import type { ServerMetrics } from '../metrics.ts'
import type { ServerLimits } from '../options.ts'
import { pageRoutes } from '../page.ts'
import type { ExecutionRegistry } from '../registry.ts'

export interface AppDeps {
  broker: Broker
  registry: ExecutionRegistry
  rooms: Rooms
  /** The per-address cap, shared with the WebSocket hub: an SSE response holds a slot too. */
  addresses: AddressSlots
  access: AccessResolver
  limits: ServerLimits
  /** `'*'` or the exact origins allowed by CORS on /api/*. */
  allowedOrigins: '*' | string[]
  metrics: () => ServerMetrics
  connections: () => number
  logger: Logger
  onError: (err: unknown, context: string) => void
}

/** Under @hono/node-server the Node request and response are the bindings; other runtimes have none. */
type Env = {
  Bindings: { incoming?: IncomingMessage; outgoing?: ServerResponse } | undefined
  Variables: { principal: Principal }
}

const STATUS_OF: Partial<Record<FlowcastErrorCode, number>> = {
  bad_request: 400,
  invalid_input: 400,
  invalid_since: 400,
  unauthorized: 401,
  forbidden: 403,
  not_found: 404,
  interrupt_not_found: 404,
  interrupt_not_waiting: 409,
  invalid_state: 409,
  payload_too_large: 413,
  too_many_executions: 429,
  too_many_connections: 429,
  rate_limited: 429,
  broker_unavailable: 503,
}

/** The HTTP status a FlowcastError code answers with. */
export function httpStatusOf(code: string): number {
  return STATUS_OF[code as FlowcastErrorCode] ?? 500
}

/** An SSE response as a room peer. */
class SsePeer implements Peer {
  open = true
  #controller: ReadableStreamDefaultController<Uint8Array> | undefined
  #keepAlive: ReturnType<typeof setInterval> | undefined
  readonly stream: ReadableStream<Uint8Array>
  readonly #strategyHwm: number
  readonly #abort: (() => void) | undefined
  readonly #onGone: (peer: SsePeer) => void

  /** `abort` tears the HTTP response down at once (the Node response's destroy), where there is one. */
  constructor(
    hwm: number,
    keepAliveMs: number,
    abort: (() => void) | undefined,
    onGone: (peer: SsePeer) => void,
  ) {
    this.#strategyHwm = hwm
    this.#abort = abort
    this.#onGone = onGone
    this.stream = new ReadableStream<Uint8Array>(
      {
        start: (controller) => {
          this.#controller = controller
        },
        cancel: () => this.#gone(),
      },
      new ByteLengthQueuingStrategy({ highWaterMark: hwm }),
    )
    this.#keepAlive = setInterval(() => this.#write(Buffer.from(': keep-alive\n\n')), keepAliveMs)
    this.#keepAlive.unref()
  }

  get bufferedAmount(): number {
    const desired = this.#controller?.desiredSize ?? 0
    return this.#strategyHwm - (desired ?? 0)
  }

  send(frame: OutFrame): void {
    this.#write(frame.sse)
  }

  /** Writes raw bytes (the opening status event, keep-alives). */
  write(bytes: Uint8Array): void {
    this.#write(bytes)
  }

  /**
   * The room's close (a slow consumer, 4008): the response is destroyed, not ended. Ending would
   * wait for the queue to drain first, which a client that never reads never lets happen, and
   * the pipe from the stream to the socket sits waiting for a drain, so it would not see an
   * errored stream either.
   */
  close(_code: number, reason: string): void {
    if (!this.open) return
    this.#gone()
    if (this.#abort) {
      this.#abort()
      return
    }
    // Elsewhere, an errored stream is the runtime's cue to abort the response.
    try {
      this.#controller?.error(new Error(reason))
    } catch {
      // Already closed or errored.
    }
  }

  /** Ends the response after what is queued (stream_end, server shutdown). */
  end(): void {
    if (!this.open) return
    try {
      this.#controller?.close()
    } catch {
      // Already errored or cancelled.
    }
    this.#gone()
  }

  onStreamEnd(): void {
    this.end()
  }

  #write(bytes: Uint8Array): void {
    if (!this.open) return
    try {
      this.#controller?.enqueue(bytes)
    } catch {
      this.#gone()
    }
  }

  #gone(): void {
    if (!this.open) return
    this.open = false
    if (this.#keepAlive) clearInterval(this.#keepAlive)
    this.#onGone(this)
  }
}

/** Parses a non-negative integer query value; undefined when absent, NaN when malformed. */
function intParam(value: string | undefined): number | undefined {
  if (value === undefined || value === '') return undefined
  return /^\d{1,15}$/.test(value) ? Number(value) : Number.NaN
}

function jsonSchemaOf(schema: z.ZodType | undefined): unknown {
  if (!schema) return undefined
  try {
    return z.toJSONSchema(schema)
  } catch {
    return {}
  }
}

/** The `exp` claim of a token we just signed (seconds since the epoch). */
function decodeExp(token: string): number | undefined {
  try {
    const payload = JSON.parse(Buffer.from(token.split('.')[1] ?? '', 'base64url').toString('utf8'))
    return typeof payload.exp === 'number' ? payload.exp : undefined
  } catch {
    return undefined
  }
}

/** Builds the Hono app; `closeStreams` ends every open SSE response (server shutdown). */
export function createApp(deps: AppDeps): { app: Hono<Env>; closeStreams(): void } {
  const { broker, registry, rooms, access, limits } = deps
  const sse = new Set<SsePeer>()
  const app = new Hono<Env>()

  const fail = (c: Context, code: FlowcastErrorCode | string, message: string, extra?: object) =>
    c.json({ error: { code, message, ...extra } }, httpStatusOf(code) as any)

  app.onError((err, c) => {
    if (isFlowcastError(err)) {
      const extra = err.code === 'invalid_input' && err.details ? { issues: err.details } : undefined
      return fail(c, err.code, err.message, extra)
    }
    deps.onError(err, `${c.req.method} ${c.req.path}`)
    return fail(c, 'internal', 'internal error')
  })
  app.notFound((c) => fail(c, 'not_found', `no route ${c.req.method} ${c.req.path}`))
  app.route('/', pageRoutes())

  // Access log at debug level only; the URL goes through redactUrl so `?token=` never lands in it.
  app.use('*', async (c, next) => {
    if (!deps.logger.isLevelEnabled('debug')) return next()
    const t0 = performance.now()
    await next()
    const url = new URL(c.req.url)
    deps.logger.debug(
      {
        method: c.req.method,
        url: redactUrl(url.pathname + url.search),
        status: c.res.status,
        ms: Math.round(performance.now() - t0),
      },
      'http',
    )
  })

  // Before auth, so that a browser's preflight (which carries no credentials) is answered.
  app.use(
    '/api/*',
    cors({
      origin: deps.allowedOrigins,
      allowMethods: ['GET', 'POST', 'OPTIONS'],
      allowHeaders: ['Authorization', 'Content-Type', 'Last-Event-ID'],
      maxAge: 600,
    }),
  )
  app.use(
    '/api/*',
    bodyLimit({
      maxSize: limits.maxBodyBytes,
      onError: (c) => fail(c, 'payload_too_large', `the body is over ${limits.maxBodyBytes} bytes`),
    }),
  )

  // Who is asking: one place, so routes never look at credentials. The flow list is public.
  app.use('/api/*', async (c, next) => {
    if (c.req.method === 'GET' && c.req.path === '/api/flows') return next()
    try {
      c.set('principal', await access.fromHttp(c.req.raw.headers))
    } catch (err) {
      if (isFlowcastError(err, 'unauthorized')) {
        deps.metrics().authFailures.inc({ transport: 'http' })
        deps.logger.info({ transport: 'http', reason: err.message, path: c.req.path }, 'auth failed')
      }
      throw err
    }
    await next()
  })

  const readable = (c: Context<Env>, id: string) => {
    if (!c.get('principal').canRead(id)) throw new FlowcastError('forbidden', `no read access to ${id}`)
  }
  const commandable = (c: Context<Env>, id: string) => {
    if (!c.get('principal').canCommand(id)) throw new FlowcastError('forbidden', `no admin access to ${id}`)
  }
  const readJson = async (c: Context): Promise<unknown> => {
    const text = await c.req.text()
    if (text.trim() === '') return {}
    try {
      return JSON.parse(text)
    } catch {
      throw new FlowcastError('bad_request', 'the body is not valid JSON')
    }
  }

  app.get('/healthz', async (c) => {
    const b = await broker.health()
    return c.json(
      { ok: b.ok, broker: { kind: broker.kind, ...b }, live: registry.live, connections: deps.connections() },
      b.ok ? 200 : 503,
    )
  })

  app.get('/metrics', async (c) => {
    const m = deps.metrics()
    return c.body(await m.text(), 200, { 'content-type': m.registry.contentType })
  })

  app.get('/api/flows', (c) =>
    c.json({
      flows: registry.flows().map((f) => ({
        name: f.name,
        description: f.description,
        exampleInput: f.exampleInput,
        contract: {
          input: jsonSchemaOf(f.contract.input),
          stream: jsonSchemaOf(f.contract.stream),
          result: jsonSchemaOf(f.contract.result),
        },
      })),
    }),
  )

  app.post('/api/flows/:name/executions', async (c) => {
    if (!c.get('principal').canStart()) throw new FlowcastError('forbidden', 'may not start executions')
    const body = StartBody.safeParse(await readJson(c))
    if (!body.success) throw new FlowcastError('bad_request', 'the body must be an object { input }')
    const info = await registry.start(c.req.param('name'), body.data.input)
    deps.logger.info({ executionId: info.executionId, flow: c.req.param('name') }, 'execution started')
    const origin = new URL(c.req.url).origin
    const id = encodeURIComponent(info.executionId)
    const self = `${origin}/api/executions/${id}`
    const [viewer, admin] = await Promise.all([
      access.mint(info.executionId, 'viewer'),
      access.mint(info.executionId, 'admin'),
    ])
    return c.json(
      {
        executionId: info.executionId,
        status: info.status,
        ...(viewer && admin ? { tokens: { viewer, admin } } : {}),
        links: {
          self,
          result: `${self}/result`,
          stream: `${self}/stream`,
          ws: `${origin.replace(/^http/, 'ws')}/ws`,
          watch: `${origin}/?execution=${id}`,
        },
      },
      201,
    )
  })

  app.post('/api/tokens', async (c) => {
    if (!c.get('principal').canStart()) throw new FlowcastError('forbidden', 'only the API key mints tokens')
    if (!access.enabled) throw new FlowcastError('bad_request', 'auth is off: there are no tokens to mint')
    const body = MintTokenBody.safeParse(await readJson(c))
    if (!body.success) {
      const issue = body.error.issues[0]
      throw new FlowcastError(
        'bad_request',
        `the body must be { executionId | '*', role: 'viewer' | 'admin', ttlSeconds? }: ${issue?.path.join('.') || '(root)'}: ${issue?.message ?? 'invalid'}`,
      )
    }
    const { executionId, role, ttlSeconds } = body.data
    if (executionId !== '*' && !(await broker.info(executionId)))
      throw new FlowcastError('not_found', `no execution "${executionId}"`)
    const token = (await access.mint(executionId, role, ttlSeconds))!
    const exp = decodeExp(token)
    deps.logger.info({ executionId, role }, 'token minted')
    return c.json(
      { token, executionId, role, ...(exp ? { expiresAt: new Date(exp * 1000).toISOString() } : {}) },
      201,
    )
  })

  app.get('/api/executions/:id', async (c) => {
    const id = c.req.param('id')
    readable(c, id)
    const info = await broker.info(id)
    if (!info) throw new FlowcastError('not_found', `no execution "${id}"`)
    const { streamClose: _s, ...rest } = info
    return c.json({ ...rest, subscribers: rooms.get(id)?.size ?? 0 } satisfies ExecutionSnapshot)
  })

  app.get('/api/executions/:id/result', async (c) => {
    const id = c.req.param('id')
    readable(c, id)
    const wait = intParam(c.req.query('wait'))
    if (Number.isNaN(wait)) throw new FlowcastError('bad_request', 'wait must be a non-negative integer (ms)')
    const outcome = await broker.result(id, Math.min(wait ?? 0, limits.maxResultWaitMs))
    if (!outcome) throw new FlowcastError('not_found', `no execution "${id}"`)
    const finished =
      outcome.status === 'completed' || outcome.status === 'failed' || outcome.status === 'cancelled'
    return c.json(outcome, finished ? 200 : 202)
  })

  app.get('/api/executions/:id/events', async (c) => {
    const id = c.req.param('id')
    readable(c, id)
    const since = intParam(c.req.query('since')) ?? 0
    const limit = intParam(c.req.query('limit')) ?? Math.min(100, limits.maxHistoryLimit)
    if (Number.isNaN(since)) throw new FlowcastError('invalid_since', 'since must be a non-negative integer')
    if (Number.isNaN(limit) || limit < 1)
      throw new FlowcastError('bad_request', 'limit must be a positive integer')
    const info = await broker.info(id)
    if (!info) throw new FlowcastError('not_found', `no execution "${id}"`)
    if (since > info.lastSeq)
      throw new FlowcastError('invalid_since', `since is beyond the last seq (${info.lastSeq})`)
    const page = await broker.read(id, since, Math.min(limit, limits.maxHistoryLimit))
    if (!page) throw new FlowcastError('not_found', `no execution "${id}"`)
    const last =
      page.entries.length > 0 ? page.entries[page.entries.length - 1]!.seq : (page.gap?.to ?? since)
    const next = last < info.lastSeq ? last : null
    // The entries' JSON is already encoded: splice it in rather than parse and re-encode.
    let body = `{"executionId":${JSON.stringify(id)},"items":[${page.entries.map((e) => e.json).join(',')}]`
    if (page.gap) body += `,"gap":{"from":${page.gap.from},"to":${page.gap.to}}`
    body += `,"lastSeq":${info.lastSeq},"streamOpen":${info.streamOpen},"next":${next}}`
    return c.body(body, 200, { 'content-type': 'application/json; charset=UTF-8' })
  })

  app.get('/api/executions/:id/stream', async (c) => {
    const id = c.req.param('id')
    readable(c, id)
    const since = intParam(c.req.header('last-event-id') ?? c.req.query('since')) ?? 0
    if (Number.isNaN(since))
      throw new FlowcastError('invalid_since', 'Last-Event-ID must be a non-negative integer')
    // The same per-address cap as WebSockets: a response held open is a connection.
    const address = c.env?.incoming?.socket.remoteAddress ?? 'unknown'
    if (!deps.addresses.take(address)) {
      deps.metrics().connectionsRefused.inc({ reason: 'per_address' })
      deps.logger.warn({ address }, 'sse refused: too many connections from one address')
      throw new FlowcastError('too_many_connections', 'too many connections from this address')
    }
    const outgoing = c.env?.outgoing
    let created: SsePeer | undefined
    let peer: SsePeer
    try {
      const entered = await rooms.enter(id, (room) => {
        const p = new SsePeer(
          limits.highWaterMark,
          limits.heartbeatMs,
          outgoing && (() => outgoing.destroy()),
          (gone) => {
            sse.delete(gone)
            room.unsubscribe(gone)
            deps.addresses.release(address)
          },
        )
        created = p
        room.subscribe(p, since, (info) => {
          p.write(
            Buffer.from(
              `retry: 1000\nevent: status\ndata: ${JSON.stringify({ type: 'status', executionId: id, status: info.status })}\n\n`,
            ),
          )
        })
        return p
      })
      if (!entered) throw new FlowcastError('not_found', `no execution "${id}"`)
      peer = entered
    } catch (err) {
      // A peer gives its slot back when it goes; before there was one, the slot is given back here.
      if (created) created.end()
      else deps.addresses.release(address)
      throw err
    }
    if (peer.open) sse.add(peer)
    return new Response(peer.stream, {
      status: 200,
      headers: {
        'content-type': 'text/event-stream; charset=utf-8',
        'cache-control': 'no-cache, no-transform',
        connection: 'keep-alive',
        'x-accel-buffering': 'no',
      },
    })
  })

  app.post('/api/executions/:id/stop-stream', async (c) => {
    const id = c.req.param('id')
    commandable(c, id)
    const outcome = await broker.command(id, { type: 'stop_stream', by: 'admin' })
    return c.json({ executionId: id, ...outcome })
  })

  app.post('/api/executions/:id/interrupts/:iid/continue', async (c) => {
    const id = c.req.param('id')
    commandable(c, id)
    const body = ContinueBody.safeParse(await readJson(c))
    if (!body.success) throw new FlowcastError('bad_request', 'the body must be an object { value }')
    const interruptId = c.req.param('iid')
    const outcome = await broker.command(id, { type: 'continue', interruptId, value: body.data.value })
    return c.json({ executionId: id, interruptId, ...outcome })
  })

  return {
    app,
    closeStreams() {
      for (const p of [...sse]) p.end()
    },
  }
}
