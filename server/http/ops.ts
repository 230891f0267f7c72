/** Operations: `/healthz` (the broker's health, live executions, connections) and `/metrics` (Prometheus). */
import { Hono } from 'hono'
import type { AppDeps, Env } from './context.ts'

/** The ops sub-app, mounted at /. */
export function opsRoutes(deps: AppDeps): Hono<Env> {
  const { broker, registry } = deps
  const app = new Hono<Env>()

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

  return app
}
