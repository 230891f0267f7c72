/** `/api/flows`: the flows this server runs (public) and starting an execution of one. */
import { FlowcastError, StartBody, type StartResponse } from '@flowcast/protocol'
import { Hono } from 'hono'
import { z } from 'zod'
import { readJson } from './body.ts'
import type { AppDeps, Env } from './context.ts'
import { corsJson } from './cors.ts'

/** The flows sub-app, mounted at /api/flows. */
export function flowRoutes(deps: AppDeps): Hono<Env> {
  const { registry, access } = deps
  const app = new Hono<Env>()

  app.get('/', (c) =>
    corsJson(c, {
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

  app.post('/:name/executions', async (c) => {
    if (!c.get('principal').canStart()) throw new FlowcastError('forbidden', 'may not start executions')
    const body = StartBody.safeParse(await readJson(c))
    if (!body.success) throw new FlowcastError('bad_request', 'the body must be an object { input }')
    const info = await registry.start(c.req.param('name'), body.data.input, c.get('trace'))
    c.set('executionId', info.executionId)
    const origin = originOf(c.req.url)
    const id = encodeURIComponent(info.executionId)
    const self = `${origin}/api/executions/${id}`
    const [viewer, admin] = await Promise.all([
      access.mint(info.executionId, 'viewer'),
      access.mint(info.executionId, 'admin'),
    ])
    return corsJson(
      c,
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
      } satisfies StartResponse,
      201,
    )
  })

  return app
}

/**
 * The origin of a request URL. The URL is already normalized (by the Request constructor, or by
 * @hono/node-server, which parses any host it does not know to be plain): the origin is the text
 * before the path, without a URL parse per start (1.5% of one, issue 18). A user-info part, which
 * the origin leaves out, goes through the parser.
 */
function originOf(url: string): string {
  const authority = url.indexOf('//') + 2
  const path = url.indexOf('/', authority)
  const origin = path < 0 ? url : url.slice(0, path)
  return origin.includes('@', authority) || origin.includes('?', authority) || origin.includes('#', authority)
    ? new URL(url).origin
    : origin
}

function jsonSchemaOf(schema: z.ZodType | undefined): unknown {
  if (!schema) return undefined
  try {
    return z.toJSONSchema(schema)
  } catch {
    return {}
  }
}
