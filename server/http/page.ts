/**
 * The watch page's routes: `/` (server/public/index.html), its assets under `/assets/`, and the
 * client SDK's browser bundle at `/flowcast-client.js` (the files themselves: ../page.ts).
 */
import { FlowcastError } from '@flowcast/protocol'
import { Hono } from 'hono'
import { ASSETS, bundleCode, clientBundle, JS, PAGE_HEADERS, pageBundle, readPublic } from '../page.ts'
import type { Env } from './context.ts'

/** The page sub-app, mounted at /. */
export function pageRoutes(): Hono<Env> {
  const app = new Hono<Env>()
  // Starts the builds with the server, so the first visitor does not wait for them.
  clientBundle().catch(() => {})
  pageBundle().catch(() => {})

  app.get('/', (c) =>
    c.body(readPublic('index.html'), 200, { 'content-type': 'text/html; charset=utf-8', ...PAGE_HEADERS }),
  )

  app.get('/assets/:name', async (c) => {
    const name = c.req.param('name')
    const asset = ASSETS.get(name)
    if (!asset) throw new FlowcastError('not_found', `no asset ${name}`)
    const text = asset.bundle ? await bundleCode(asset.bundle) : readPublic(name)
    return c.body(text, 200, { 'content-type': asset.type, ...PAGE_HEADERS })
  })

  app.get('/flowcast-client.js', async (c) => {
    const code = await clientBundle()
    return c.body(code, 200, { 'content-type': JS, ...PAGE_HEADERS })
  })

  return app
}
