/**
 * The watch page: `/` (server/public/index.html), its assets under `/assets/`, and the client SDK's
 * browser bundle at `/flowcast-client.js`, which the page uses as its only client. The bundle is
 * built with esbuild when it is missing or older than the SDK sources, then held in memory.
 */
import { existsSync, readdirSync, readFileSync, renameSync, rmSync, statSync } from 'node:fs'
import { dirname, join, resolve } from 'node:path'
import { fileURLToPath } from 'node:url'
import { Hono } from 'hono'

const root = resolve(dirname(fileURLToPath(import.meta.url)), '..')
const PUBLIC = join(root, 'server/public')
const BUNDLE = join(PUBLIC, 'flowcast-client.js')

/**
 * The page's own files and their types; nothing else under server/public is served. A Map, so that
 * a name such as `constructor` or `__proto__` is just a name that is not there.
 */
const ASSETS = new Map<string, string>([
  ['page.js', 'text/javascript; charset=utf-8'],
  ['page.css', 'text/css; charset=utf-8'],
])

// The token sits in the address bar until the page's script moves it out: no Referer may carry it,
// and only this origin's script may run next to it.
const PAGE_HEADERS = {
  'content-security-policy':
    "default-src 'self'; script-src 'self'; style-src 'self'; connect-src 'self'; img-src 'self' data:; base-uri 'none'; form-action 'self'; frame-ancestors 'none'",
  'referrer-policy': 'no-referrer',
  'x-content-type-options': 'nosniff',
  'cache-control': 'no-cache',
}

const files = new Map<string, string>()
let bundle: Promise<string> | undefined

function readPublic(name: string): string {
  let text = files.get(name)
  if (text === undefined) {
    text = readFileSync(join(PUBLIC, name), 'utf8')
    files.set(name, text)
  }
  return text
}

/** Newest modification time of the sources that go into the bundle. */
function newestSource(): number {
  let newest = statSync(join(root, 'protocol', 'errors.ts')).mtimeMs
  for (const name of readdirSync(join(root, 'protocol'))) {
    if (name.endsWith('.ts')) newest = Math.max(newest, statSync(join(root, 'protocol', name)).mtimeMs)
  }
  for (const name of readdirSync(join(root, 'client-sdk'))) {
    if (name.endsWith('.ts')) newest = Math.max(newest, statSync(join(root, 'client-sdk', name)).mtimeMs)
  }
  return newest
}

function bundleIsFresh(): boolean {
  if (!existsSync(BUNDLE)) return false
  try {
    return statSync(BUNDLE).mtimeMs >= newestSource()
  } catch {
    // No sources next to the server (a trimmed deployment): the shipped bundle is all there is.
    return true
  }
}

/** The bundle's code, built once per process when missing or stale. */
export function clientBundle(): Promise<string> {
  bundle ??= (async () => {
    if (!bundleIsFresh()) {
      // esbuild is a dev dependency: load it only when a build is needed. Build beside the target
      // and rename, so that parallel processes never read a half-written file.
      const { buildClientBundle } = await import('../scripts/build-client.mjs')
      const tmp = join(PUBLIC, `.flowcast-client.${process.pid}.${Date.now()}.js`)
      try {
        await buildClientBundle(tmp)
        renameSync(tmp, BUNDLE)
      } finally {
        rmSync(tmp, { force: true })
      }
    }
    return readFileSync(BUNDLE, 'utf8')
  })()
  // A failed build is retried on the next request rather than cached.
  bundle.catch(() => {
    bundle = undefined
  })
  return bundle
}

/** Routes of the watch page, to be mounted at `/`. */
export function pageRoutes(): Hono {
  const app = new Hono()
  // Starts the build with the server, so the first visitor does not wait for it.
  clientBundle().catch(() => {})

  app.get('/', (c) =>
    c.body(readPublic('index.html'), 200, { 'content-type': 'text/html; charset=utf-8', ...PAGE_HEADERS }),
  )

  app.get('/assets/:name', (c) => {
    const name = c.req.param('name')
    const type = ASSETS.get(name)
    if (!type) return c.json({ error: { code: 'not_found', message: `no asset ${name}` } }, 404)
    return c.body(readPublic(name), 200, { 'content-type': type, ...PAGE_HEADERS })
  })

  app.get('/flowcast-client.js', async (c) => {
    const code = await clientBundle()
    return c.body(code, 200, { 'content-type': 'text/javascript; charset=utf-8', ...PAGE_HEADERS })
  })

  return app
}
