/**
 * Operations: `/livez` (the process answers), `/readyz` (send it work: the broker is reachable and
 * the node is not draining), `/healthz` (the broker's health, live executions, connections) and
 * `/metrics` (Prometheus).
 */
import { Hono } from 'hono'
import type { AppDeps, Env } from './context.ts'

/** The ops sub-app, mounted at /. */
export function opsRoutes(deps: AppDeps): Hono<Env> {
  const { broker, registry } = deps
  const app = new Hono<Env>()

  app.get('/livez', (c) => c.json({ ok: true }))

  // Draining is checked first and without the broker, so the answer turns 503 at once.
  app.get('/readyz', async (c) => {
    if (registry.draining) return c.json({ ok: false, draining: true }, 503)
    const b = await broker.health()
    return c.json({ ok: b.ok, draining: false, broker: { kind: broker.kind, ...b } }, b.ok ? 200 : 503)
  })

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
