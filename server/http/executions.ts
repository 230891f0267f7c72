/**
 * `/api/executions/:id`: an execution's snapshot, its result (long-poll), its history page, its
 * live stream (SSE, see sse.ts) and the admin commands stop-stream, cancel and continue (DELETE
 * answers 405: an execution ends and expires, it is not deleted).
 */
import { ContinueBody, type ExecutionSnapshot, FlowcastError, isTerminal } from '@flowcast/protocol'
import { Hono } from 'hono'
import { intParam, readJson } from './body.ts'
import { type AppDeps, type Env, mustCommand, mustRead } from './context.ts'
import { corsJson } from './cors.ts'
import type { SseStreams } from './sse.ts'

/** The executions sub-app, mounted at /api/executions. */
export function executionRoutes(deps: AppDeps, sse: SseStreams): Hono<Env> {
  const { broker, rooms, limits } = deps
  const app = new Hono<Env>()

  app.get('/:id', async (c) => {
    const id = c.req.param('id')
    mustRead(c, id)
    const info = await broker.info(id)
    if (!info) throw new FlowcastError('not_found', `no execution "${id}"`)
    const { streamClose: _s, ...rest } = info
    return corsJson(c, { ...rest, subscribers: rooms.get(id)?.size ?? 0 } satisfies ExecutionSnapshot)
  })

  app.get('/:id/result', async (c) => {
    const id = c.req.param('id')
    mustRead(c, id)
    const wait = intParam(c.req.query('wait'))
    if (Number.isNaN(wait)) throw new FlowcastError('bad_request', 'wait must be a non-negative integer (ms)')
    const outcome = await broker.result(id, Math.min(wait ?? 0, limits.maxResultWaitMs))
    if (!outcome) throw new FlowcastError('not_found', `no execution "${id}"`)
    return corsJson(c, outcome, isTerminal(outcome.status) ? 200 : 202)
  })

  app.get('/:id/events', async (c) => {
    const id = c.req.param('id')
    mustRead(c, id)
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
    // A page is a frame too: at most maxFrameBytes (at least one entry, so it always moves on).
    let bytes = 256
    for (let i = 0; i < page.entries.length; i++) {
      bytes += Buffer.byteLength(page.entries[i]!.json, 'utf8') + 1
      if (i > 0 && bytes > limits.maxFrameBytes) {
        page.entries = page.entries.slice(0, i)
        break
      }
    }
    const last =
      page.entries.length > 0 ? page.entries[page.entries.length - 1]!.seq : (page.gap?.to ?? since)
    const next = last < info.lastSeq ? last : null
    // The entries' JSON is already encoded: splice it in rather than parse and re-encode.
    let body = `{"executionId":${JSON.stringify(id)},"items":[${page.entries.map((e) => e.json).join(',')}]`
    if (page.gap) body += `,"gap":{"from":${page.gap.from},"to":${page.gap.to}}`
    body += `,"lastSeq":${info.lastSeq},"streamOpen":${info.streamOpen},"next":${next}}`
    return c.body(body, 200, { 'content-type': 'application/json; charset=UTF-8' })
  })

  app.get('/:id/stream', async (c) => {
    const id = c.req.param('id')
    mustRead(c, id)
    const since = intParam(c.req.header('last-event-id') ?? c.req.query('since')) ?? 0
    if (Number.isNaN(since))
      throw new FlowcastError('invalid_since', 'Last-Event-ID must be a non-negative integer')
    return sse.open(c, id, since, c.get('principal').exp)
  })

  app.post('/:id/stop-stream', async (c) => {
    const id = c.req.param('id')
    mustCommand(c, id)
    const outcome = await broker.command(id, { type: 'stop_stream', by: 'admin' })
    return corsJson(c, { executionId: id, ...outcome })
  })

  app.post('/:id/cancel', async (c) => {
    const id = c.req.param('id')
    mustCommand(c, id)
    const outcome = await broker.command(id, { type: 'cancel', by: 'admin' })
    return corsJson(c, { executionId: id, ...outcome })
  })

  // An execution is not a resource a client deletes (it ends, and its record expires after the
  // finished TTL): say so, and where cancelling is, instead of a bare "no route".
  app.delete('/:id', (c) => {
    c.header('allow', 'GET')
    throw new FlowcastError(
      'method_not_allowed',
      'an execution cannot be deleted: POST /api/executions/:id/cancel cancels it, and it expires after the finished TTL',
    )
  })

  app.post('/:id/interrupts/:iid/continue', async (c) => {
    const id = c.req.param('id')
    mustCommand(c, id)
    const body = ContinueBody.safeParse(await readJson(c))
    if (!body.success) throw new FlowcastError('bad_request', 'the body must be an object { value }')
    const interruptId = c.req.param('iid')
    const outcome = await broker.command(id, { type: 'continue', interruptId, value: body.data.value })
    return corsJson(c, { executionId: id, interruptId, ...outcome })
  })

  return app
}
