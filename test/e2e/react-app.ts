/**
 * examples/react-app as a user builds it: copied out of the repository, with @flowcast/client and
 * @flowcast/protocol unpacked from the packed tarballs into its node_modules (the files a user's
 * install gets) and every other package linked from the repository's own node_modules (the same
 * versions `npm ci` installed, so no registry is needed at test time), built by Vite as a
 * development build (so StrictMode double-mounts), then served by a static server that is also the
 * app's token backend.
 */
import {
  cpSync,
  existsSync,
  mkdirSync,
  mkdtempSync,
  readdirSync,
  readFileSync,
  rmSync,
  symlinkSync,
} from 'node:fs'
import { createServer, type Server } from 'node:http'
import type { AddressInfo } from 'node:net'
import { tmpdir } from 'node:os'
import { extname, join, normalize } from 'node:path'
import { type PackageName, root, run, sharedPacks } from '../packages/packs.ts'

const APP = join(root, 'examples/react-app')
/** The packages the app gets from tarballs: the client and its one dependency. */
const FROM_TARBALLS: PackageName[] = ['@flowcast/client', '@flowcast/protocol']

/**
 * Fills `app/node_modules`: each of `tarballs` unpacked (npm's tarballs hold one `package/`
 * folder), every other installed package of the repository as a symlink. The workspace links of
 * the other @flowcast packages are left out, so nothing can reach the repository's sources.
 */
async function linkModules(app: string, tarballs: Map<PackageName, string>): Promise<void> {
  const from = join(root, 'node_modules')
  const to = join(app, 'node_modules')
  mkdirSync(to, { recursive: true })
  for (const name of readdirSync(from)) {
    if (name.startsWith('.') || name === '@flowcast') continue
    if (name.startsWith('@')) {
      mkdirSync(join(to, name))
      for (const inner of readdirSync(join(from, name)))
        symlinkSync(join(from, name, inner), join(to, name, inner))
    } else symlinkSync(join(from, name), join(to, name))
  }
  for (const [name, tarball] of tarballs) {
    const dir = join(to, name)
    mkdirSync(dir, { recursive: true })
    await run('tar', ['-xzf', tarball, '-C', dir, '--strip-components=1'], app, 60_000)
  }
}

/** Builds the example app against the packed client; returns the folder of its build (`dist/`). */
export async function buildReactApp(): Promise<{ dist: string; remove(): void }> {
  const packs = await sharedPacks()
  const dir = mkdtempSync(join(tmpdir(), 'flowcast-react-app-'))
  const app = join(dir, 'app')
  cpSync(APP, app, {
    recursive: true,
    filter: (src) => !/[\\/](node_modules|dist)$/.test(src),
  })
  // The packages as published: the tarballs stand where the registry's versions would.
  await linkModules(app, new Map(FROM_TARBALLS.map((name) => [name, packs.get(name)!.tarball])))
  await run(
    process.execPath,
    [join(app, 'node_modules/vite/bin/vite.js'), 'build', '--mode', 'development', '--logLevel', 'warn'],
    app,
    240_000,
    { NODE_ENV: 'development' },
  )
  const dist = join(app, 'dist')
  if (!existsSync(join(dist, 'index.html'))) throw new Error(`vite build left no ${dist}/index.html`)
  return { dist, remove: () => rmSync(dir, { recursive: true, force: true }) }
}

/** One request the token backend answered. */
export interface TokenAsk {
  execution: string
  role: 'viewer' | 'admin'
  reason: string
}

/** The static server of a built app, with `/token` as its backend. */
export interface AppServer {
  url: string
  /** Every `/token` request, in order. */
  asked: TokenAsk[]
  close(): Promise<void>
}

const TYPES: Record<string, string> = {
  '.html': 'text/html; charset=utf-8',
  '.js': 'text/javascript; charset=utf-8',
  '.css': 'text/css; charset=utf-8',
  '.svg': 'image/svg+xml',
  '.json': 'application/json',
}

/**
 * Serves `dist` on port 0; `GET /token?execution=&role=&ttl=&reason=` mints a token with `mint`
 * (the app's backend: it holds what the browser must not, and decides the token's lifetime).
 */
export async function serveApp(
  dist: string,
  mint: (executionId: string, role: 'viewer' | 'admin', ttlSeconds: number) => Promise<string | undefined>,
): Promise<AppServer> {
  const asked: TokenAsk[] = []
  const server: Server = createServer((req, res) => {
    const url = new URL(req.url ?? '/', 'http://app.invalid')
    if (url.pathname === '/token') {
      const execution = url.searchParams.get('execution') ?? ''
      const role = url.searchParams.get('role') === 'admin' ? 'admin' : 'viewer'
      const ttl = Number(url.searchParams.get('ttl') ?? 300)
      asked.push({ execution, role, reason: url.searchParams.get('reason') ?? '' })
      mint(execution, role, ttl).then(
        (token) => {
          res.writeHead(token ? 200 : 404, {
            'content-type': 'application/json',
            'cache-control': 'no-store',
          })
          res.end(JSON.stringify({ token }))
        },
        (err: Error) => {
          res.writeHead(500, { 'content-type': 'text/plain' })
          res.end(err.message)
        },
      )
      return
    }
    const path = normalize(url.pathname === '/' ? '/index.html' : url.pathname)
    const file = join(dist, path)
    if (!file.startsWith(dist) || !existsSync(file)) {
      res.writeHead(404).end()
      return
    }
    res.writeHead(200, { 'content-type': TYPES[extname(file)] ?? 'application/octet-stream' })
    res.end(readFileSync(file))
  })
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve))
  const { port } = server.address() as AddressInfo
  return {
    url: `http://127.0.0.1:${port}`,
    asked,
    close: () =>
      new Promise<void>((resolve) => {
        server.closeAllConnections()
        server.close(() => resolve())
      }),
  }
}
