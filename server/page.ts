/**
 * The watch page's files (served by http/page.ts): server/public/index.html, its assets (the
 * stylesheet and page.js, the bundle of server/watch-page with the client SDK), and the SDK's own
 * browser bundle for pages of your own. Each bundle is built with esbuild when it is missing or
 * older than its sources, then held in memory.
 */
import { existsSync, readdirSync, readFileSync, renameSync, rmSync, statSync } from 'node:fs'
import { dirname, join, resolve } from 'node:path'
import { fileURLToPath } from 'node:url'

const here = dirname(fileURLToPath(import.meta.url))
// From source (server/page.ts, under tsx or vitest) the files are server/public and the bundles are
// rebuilt when stale. Built (server/dist/page.js) the build has put the files and both bundles in
// dist/public beside this module, and nothing is rebuilt: neither esbuild nor the sources ship.
const BUILT = import.meta.url.endsWith('.js')
const root = resolve(here, '..')
const PUBLIC = join(here, 'public')

export const JS = 'text/javascript; charset=utf-8'

/** A bundle the server builds: its file under server/public, its source folders, its builder. */
export interface BundleSpec {
  file: string
  sources: string[]
  build: (outFile: string) => Promise<unknown>
}

// esbuild is a dev dependency: the build script is loaded only when a build is needed.
const buildScript = () => import('../scripts/build-client.mjs')

const CLIENT: BundleSpec = {
  file: 'flowcast-client.js',
  sources: ['protocol', 'client-sdk'],
  build: async (out) => (await buildScript()).buildClientBundle(out),
}
const PAGE: BundleSpec = {
  file: 'page.js',
  sources: ['protocol', 'client-sdk', 'server/watch-page'],
  build: async (out) => (await buildScript()).buildPageBundle(out),
}

/**
 * The page's own files and how each is served; nothing else under server/public is served. A Map,
 * so that a name such as `constructor` or `__proto__` is just a name that is not there.
 */
export const ASSETS = new Map<string, { type: string; bundle?: BundleSpec }>([
  ['page.js', { type: JS, bundle: PAGE }],
  ['page.css', { type: 'text/css; charset=utf-8' }],
])

// The token sits in the address bar until the page's script moves it out: no Referer may carry it,
// and only this origin's script may run next to it.
export const PAGE_HEADERS = {
  'content-security-policy':
    "default-src 'self'; script-src 'self'; style-src 'self'; connect-src 'self'; img-src 'self' data:; base-uri 'none'; form-action 'self'; frame-ancestors 'none'",
  'referrer-policy': 'no-referrer',
  'x-content-type-options': 'nosniff',
  'cache-control': 'no-cache',
}

const files = new Map<string, string>()
const bundles = new Map<BundleSpec, Promise<string>>()

/** A file of server/public, read once. */
export function readPublic(name: string): string {
  let text = files.get(name)
  if (text === undefined) {
    text = readFileSync(join(PUBLIC, name), 'utf8')
    files.set(name, text)
  }
  return text
}

/** Newest modification time of the TypeScript files in `folders` (throws when one is missing). */
function newestSource(folders: string[]): number {
  let newest = 0
  for (const folder of folders) {
    const dir = join(root, folder)
    newest = Math.max(newest, statSync(dir).mtimeMs)
    for (const name of readdirSync(dir)) {
      if (name.endsWith('.ts')) newest = Math.max(newest, statSync(join(dir, name)).mtimeMs)
    }
  }
  return newest
}

function isFresh(spec: BundleSpec): boolean {
  const file = join(PUBLIC, spec.file)
  if (BUILT) return true
  if (!existsSync(file)) return false
  try {
    return statSync(file).mtimeMs >= newestSource(spec.sources)
  } catch {
    // No sources next to the server (a trimmed deployment): the shipped bundle is all there is.
    return true
  }
}

/** The code of bundle `spec`, built once per process when missing or stale. */
export function bundleCode(spec: BundleSpec): Promise<string> {
  let code = bundles.get(spec)
  if (code) return code
  code = (async () => {
    const file = join(PUBLIC, spec.file)
    if (!isFresh(spec)) {
      // Build beside the target and rename, so that parallel processes never read a half-written file.
      const tmp = join(PUBLIC, `.${spec.file}.${process.pid}.${Date.now()}.js`)
      try {
        await spec.build(tmp)
        renameSync(tmp, file)
      } finally {
        rmSync(tmp, { force: true })
      }
    }
    return readFileSync(file, 'utf8')
  })()
  bundles.set(spec, code)
  // A failed build is retried on the next request rather than cached.
  code.catch(() => bundles.delete(spec))
  return code
}

/** The client SDK bundle's code, built once per process when missing or stale. */
export function clientBundle(): Promise<string> {
  return bundleCode(CLIENT)
}

/** The watch page bundle's code (the page with the SDK), built once per process when missing or stale. */
export function pageBundle(): Promise<string> {
  return bundleCode(PAGE)
}
