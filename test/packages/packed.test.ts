/**
 * The packages as a user receives them: built and packed with `npm pack`, checked with publint and
 * arethetypeswrong, then installed from the tarballs into two throw-away apps — a frontend that
 * installs only @flowcast/client (and its protocol) and type-checks under the Vite React template's
 * settings while typing a catalog flow's stream from a type-only import, and a Node program that
 * starts a server from the built JavaScript, without tsx.
 */
import { type ChildProcess, spawn } from 'node:child_process'
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs'
import { createRequire } from 'node:module'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { build } from 'esbuild'
import { publint } from 'publint'
import { formatMessage } from 'publint/utils'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { waitFor } from '../helpers/wait.ts'
import { installApp, PACKAGES, type Pack, type PackageName, root, run, sharedPacks } from './packs.ts'

const require = createRequire(import.meta.url)
const tsc = require.resolve('typescript/bin/tsc')
const attw = join(require.resolve('@arethetypeswrong/cli/package.json'), '..', 'dist/index.js')

/** The range the engine itself asks for, so that the app and the engine share one zod. */
const ZOD_RANGE = (
  JSON.parse(readFileSync(join(root, 'flows/package.json'), 'utf8')) as {
    dependencies: Record<string, string>
  }
).dependencies.zod!
// The repository's own tools, none of which a production install may receive.
const DEV_TOOLS = [
  'tsx',
  'typescript',
  'vitest',
  'esbuild',
  '@biomejs/biome',
  'playwright-core',
  'fast-check',
]
// A TypeScript loader for "where a loader is present": the repository's tsx, outside the app.
const TSX = require.resolve('tsx')

/**
 * The environment of a `flowcast serve` child: this process's, without the settings of the shell
 * around the test (a REDIS_URL there would put the node on the shared Redis), plus `extra`.
 */
function serveEnv(extra: Record<string, string>): NodeJS.ProcessEnv {
  const env: NodeJS.ProcessEnv = {}
  for (const [k, v] of Object.entries(process.env))
    if (!k.startsWith('FLOWCAST_') && !['PORT', 'HOST', 'REDIS_URL', 'LOG_LEVEL'].includes(k)) env[k] = v
  return { ...env, ...extra }
}

const dir = mkdtempSync(join(tmpdir(), 'flowcast-packed-'))
let packs: Map<PackageName, Pack>
const tarball = (name: PackageName) => `file:${packs.get(name)!.tarball}`

// Everything the server needs at run time, none of which a browser app may receive.
const SERVER_ONLY = [
  '@flowcast/server',
  'hono',
  '@hono/node-server',
  'ws',
  'ioredis',
  'jose',
  'pino',
  'prom-client',
]

beforeAll(async () => {
  packs = await sharedPacks()
}, 600_000)
afterAll(() => rmSync(dir, { recursive: true, force: true }))

/** The @flowcast/* packages an app's lockfile holds, each with where it came from. */
function flowcastPackagesOf(app: string): Record<string, string> {
  const lock = JSON.parse(readFileSync(join(app, 'package-lock.json'), 'utf8')) as {
    packages: Record<string, { resolved?: string }>
  }
  const out: Record<string, string> = {}
  for (const [path, info] of Object.entries(lock.packages)) {
    const m = /(?:^|\/)node_modules\/(@flowcast\/[^/]+)$/.exec(path)
    if (m) out[path] = info.resolved ?? ''
  }
  return out
}

describe('packed tarballs', () => {
  it('hold the build, the manifest, a README and the license, nothing else', () => {
    const license = readFileSync(join(root, 'LICENSE'), 'utf8')
    expect(license).toContain('flowcast contributors')
    for (const pkg of PACKAGES) {
      const { files } = packs.get(pkg.name)!
      const stray = files.filter(
        (f) => !/^(package\.json|README\.md|LICENSE|CHANGELOG\.md|dist\/.+)$/.test(f),
      )
      expect(stray, pkg.name).toEqual([])
      const sources = files.filter(
        (f) =>
          /\.test\.|(^|\/)(test|bench|docs)\//.test(f) || /\.(png|ts|tsx)$/.test(f.replace(/\.d\.ts$/, '')),
      )
      expect(sources, pkg.name).toEqual([])
      expect(files, pkg.name).toEqual(expect.arrayContaining(['LICENSE', 'dist/index.js', 'dist/index.d.ts']))
      // The license a package carries is the repository's, not a copy drifting on its own.
      expect(readFileSync(join(root, pkg.dir, 'LICENSE'), 'utf8'), pkg.name).toBe(license)
    }
    expect(packs.get('@flowcast/flows')!.files).toEqual(
      expect.arrayContaining(['dist/catalog/index.js', 'dist/catalog/index.d.ts']),
    )
  })

  it('the client depends on the protocol alone', () => {
    const manifest = JSON.parse(readFileSync(join(root, 'client-sdk/package.json'), 'utf8'))
    expect(Object.keys(manifest.dependencies)).toEqual(['@flowcast/protocol'])
    for (const name of ['@flowcast/server', '@flowcast/flows', ...SERVER_ONLY])
      expect(Object.keys(manifest.peerDependencies ?? {})).not.toContain(name)
  })

  it('publint finds nothing, suggestions included', async () => {
    for (const pkg of PACKAGES) {
      const data = readFileSync(packs.get(pkg.name)!.tarball)
      const tarballBuffer = data.buffer.slice(
        data.byteOffset,
        data.byteOffset + data.byteLength,
      ) as ArrayBuffer
      const { messages, pkg: manifest } = await publint({
        pack: { tarball: tarballBuffer },
        level: 'suggestion',
        strict: true,
      })
      expect(
        messages.map((m) => `${m.type}: ${formatMessage(m, manifest, { color: false })}`),
        pkg.name,
      ).toEqual([])
    }
  })

  it('arethetypeswrong finds nothing for ESM consumers (node16 from ESM, bundler)', async () => {
    for (const pkg of PACKAGES) {
      // ESM only by choice: the esm-only profile leaves out require() and node10 resolution.
      await run(
        process.execPath,
        [attw, packs.get(pkg.name)!.tarball, '--profile', 'esm-only', '--format', 'ascii'],
        root,
        60_000,
      )
    }
  }, 120_000)
})

describe('a frontend app installs @flowcast/client alone', () => {
  const app = join(dir, 'frontend')

  beforeAll(async () => {
    await installApp(
      app,
      {
        name: 'frontend',
        private: true,
        type: 'module',
        dependencies: {
          '@flowcast/client': tarball('@flowcast/client'),
          '@flowcast/protocol': tarball('@flowcast/protocol'),
        },
        // For types only: `import type` of a catalog flow, erased from the bundle.
        devDependencies: { '@flowcast/flows': tarball('@flowcast/flows') },
      },
      {
        // The Vite React template's tsconfig.app.json, without vite/client's types (no Vite here)
        // and without jsx (this app has no components): no Node types, bundler resolution.
        'tsconfig.json': JSON.stringify({
          compilerOptions: {
            target: 'ES2022',
            useDefineForClassFields: true,
            lib: ['ES2022', 'DOM', 'DOM.Iterable'],
            module: 'ESNext',
            types: [],
            skipLibCheck: true,
            moduleResolution: 'bundler',
            allowImportingTsExtensions: true,
            verbatimModuleSyntax: true,
            moduleDetection: 'force',
            noEmit: true,
            strict: true,
            noUnusedLocals: true,
            noUnusedParameters: true,
            erasableSyntaxOnly: true,
            noFallthroughCasesInSwitch: true,
            noUncheckedSideEffectImports: true,
          },
          include: ['src'],
        }),
        'src/main.ts': [
          "import { createClient, type StreamEvent } from '@flowcast/client'",
          "import type { longJobFlow } from '@flowcast/flows/catalog'",
          '',
          'type LongJob = ReturnType<typeof longJobFlow>',
          '',
          "const client = createClient({ url: 'http://127.0.0.1:8787' })",
          '',
          'export async function total(id: string): Promise<number> {',
          '  let sum = 0',
          '  for await (const ev of client.stream<LongJob>(id)) {',
          '    const item: { n: number; of: number; pad: string } = ev.data',
          '    sum += item.n',
          '    // @ts-expect-error the stream contract has no such field (so `data` is typed, not any)',
          '    sum += ev.data.missing',
          '  }',
          '  return sum',
          '}',
          '',
          'export const first: (ev: StreamEvent<{ n: number }>) => number = (ev) => ev.data.n',
          '',
        ].join('\n'),
      },
    )
  }, 300_000)

  it('gets the tarballs and no server package', () => {
    const installed = flowcastPackagesOf(app)
    expect(Object.keys(installed).sort()).toEqual([
      'node_modules/@flowcast/client',
      'node_modules/@flowcast/flows',
      'node_modules/@flowcast/protocol',
    ])
    for (const resolved of Object.values(installed)) expect(resolved).toMatch(/^file:/)
    for (const name of SERVER_ONLY) expect(existsSync(join(app, 'node_modules', name)), name).toBe(false)
  })

  it('type-checks under the Vite React template settings', async () => {
    await run(process.execPath, [tsc, '-p', join(app, 'tsconfig.json')], app, 120_000)
  }, 150_000)

  it('bundles for the browser with the client and none of the engine', async () => {
    const result = await build({
      absWorkingDir: app,
      entryPoints: ['src/main.ts'],
      bundle: true,
      write: false,
      format: 'esm',
      platform: 'browser',
      metafile: true,
      logLevel: 'silent',
    })
    const inputs = Object.keys(result.metafile.inputs)
    expect(inputs.some((p) => p.includes('node_modules/@flowcast/client/dist/'))).toBe(true)
    expect(inputs.filter((p) => p.includes('@flowcast/flows'))).toEqual([])
  })
})

// A production install (`--omit=dev`), as a deployment makes it: the built JavaScript and the
// runtime dependencies, no TypeScript, no tsx, no test or build tools.
describe('a Node program runs the built server without tsx (production install)', () => {
  const app = join(dir, 'node-app')
  let child: ChildProcess | undefined

  beforeAll(async () => {
    await installApp(
      app,
      {
        name: 'node-app',
        private: true,
        type: 'module',
        dependencies: {
          '@flowcast/server': tarball('@flowcast/server'),
          '@flowcast/flows': tarball('@flowcast/flows'),
          '@flowcast/protocol': tarball('@flowcast/protocol'),
          // The README's example module validates its input with zod.
          zod: ZOD_RANGE,
        },
      },
      {
        // The README's "Add your own flow" module, as is.
        'my-flows.ts': readFileSync(join(root, 'examples/my-flows.ts'), 'utf8'),
        'start.mjs': [
          "import { TriggerFlow } from '@flowcast/flows'",
          "import { catalogFlows } from '@flowcast/flows/catalog'",
          "import { startServer } from '@flowcast/server'",
          '',
          "const greet = new TriggerFlow({ name: 'greet' })",
          "const hello = greet.chunk('hello', async (data) => {",
          '  await data.putIntoStream({ hello: data.input })',
          "  return 'hello ' + data.input",
          '})',
          'greet.to(hello).end()',
          "const server = await startServer({ port: 0, auth: 'off', flows: [...catalogFlows(), greet] })",
          'console.log(JSON.stringify({ url: server.url }))',
          "process.on('SIGTERM', () => server.close().then(() => process.exit(0)))",
          '',
        ].join('\n'),
      },
      { omitDev: true },
    )
  }, 300_000)
  afterAll(() => {
    if (child && child.exitCode === null) child.kill('SIGKILL')
  })

  /** Keeps `proc` as the child to kill, and resolves with the URL its JSON output names. */
  async function listening(proc: ChildProcess, what: string) {
    child = proc
    let out = ''
    const exited = new Promise<number | null>((r) => proc.once('exit', (code) => r(code)))
    const url = await waitFor(
      new Promise<string>((resolve, reject) => {
        proc.stdout!.on('data', (c: Buffer) => {
          out += c.toString()
          const m = /"url":"(http:\/\/[^"]+)"/.exec(out)
          if (m) resolve(m[1]!)
        })
        proc.stderr!.on('data', (c: Buffer) => {
          out += c.toString()
        })
        proc.once('exit', (code) => reject(new Error(`exited (${code}) before listening:\n${out}`)))
      }),
      30_000,
      what,
    )
    return { url, exited }
  }

  it("installs no tsx, no TypeScript sources and none of the repository's dev tools", () => {
    for (const tool of DEV_TOOLS) expect(existsSync(join(app, 'node_modules', tool)), tool).toBe(false)
    const installed = flowcastPackagesOf(app)
    expect(Object.keys(installed).sort()).toEqual([
      'node_modules/@flowcast/flows',
      'node_modules/@flowcast/protocol',
      'node_modules/@flowcast/server',
    ])
    for (const resolved of Object.values(installed)) expect(resolved).toMatch(/^file:/)
  })

  it('starts a server that runs a flow and answers its result', async () => {
    const proc = spawn(process.execPath, ['start.mjs'], { cwd: app, stdio: ['ignore', 'pipe', 'pipe'] })
    const { url, exited } = await listening(proc, 'the packed server to listen')

    const flows = (await (await fetch(`${url}/api/flows`)).json()) as { flows: { name: string }[] }
    expect(flows.flows.map((f) => f.name)).toEqual(expect.arrayContaining(['greet', 'long-job']))

    const started = await fetch(`${url}/api/flows/greet/executions`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ input: 'packed' }),
    })
    expect(started.status).toBe(201)
    const { executionId } = (await started.json()) as { executionId: string }
    const result = await (await fetch(`${url}/api/executions/${executionId}/result?wait=20000`)).json()
    expect(result).toEqual({ status: 'completed', result: 'hello packed' })
    const events = (await (await fetch(`${url}/api/executions/${executionId}/events`)).json()) as {
      items: { seq: number; data: unknown }[]
    }
    expect(events.items.map((e) => [e.seq, e.data])).toEqual([[1, { hello: 'packed' }]])

    // The watch page and both browser bundles ship in the tarball; nothing is built at run time.
    for (const [path, type] of [
      ['/', 'text/html'],
      ['/assets/page.css', 'text/css'],
      ['/assets/page.js', 'text/javascript'],
      ['/flowcast-client.js', 'text/javascript'],
    ] as const) {
      const res = await fetch(`${url}${path}`)
      expect(res.status, path).toBe(200)
      expect(res.headers.get('content-type'), path).toContain(type)
      expect((await res.text()).length, path).toBeGreaterThan(100)
    }

    proc.kill('SIGTERM')
    expect(await waitFor(exited, 15_000, 'the packed server to close')).toBe(0)
  }, 90_000)

  it('npx flowcast --help runs the installed bin', async () => {
    const help = await run('npx', ['--no-install', 'flowcast', '--help'], app, 60_000)
    expect(help).toMatch(/^Usage: flowcast serve/)
    expect(help).toContain('--drain-timeout-ms')
  }, 90_000)

  it('flowcast serve flows.mjs serves the module with the built JavaScript', async () => {
    // The bin itself (a node script), so the signal reaches the server and not an npx wrapper.
    writeFileSync(
      join(app, 'flows.mjs'),
      [
        "import { TriggerFlow } from '@flowcast/flows'",
        "export const greet = new TriggerFlow({ name: 'greet' })",
        "greet.to(greet.chunk('hello', async (data) => 'hello ' + data.input)).end()",
        '',
      ].join('\n'),
    )
    const proc = spawn(join(app, 'node_modules/.bin/flowcast'), ['serve', 'flows.mjs'], {
      cwd: app,
      env: serveEnv({ PORT: '0', FLOWCAST_AUTH: 'off', LOG_LEVEL: 'info' }),
      stdio: ['ignore', 'pipe', 'pipe'],
    })
    const { url, exited } = await listening(proc, 'flowcast serve to listen')
    // What a load balancer and an orchestrator ask, then the API and the page.
    expect(await (await fetch(`${url}/livez`)).json()).toEqual({ ok: true })
    const ready = await fetch(`${url}/readyz`)
    expect(ready.status).toBe(200)
    expect(await ready.json()).toMatchObject({ ok: true, draining: false, broker: { kind: 'memory' } })
    const page = await fetch(`${url}/`)
    expect(page.status).toBe(200)
    expect(await page.text()).toContain('id="watch-view"')
    const flows = (await (await fetch(`${url}/api/flows`)).json()) as { flows: { name: string }[] }
    expect(flows.flows.map((f) => f.name)).toEqual(['greet'])
    const started = await fetch(`${url}/api/flows/greet/executions`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ input: 'bin' }),
    })
    const { executionId } = (await started.json()) as { executionId: string }
    const result = await (await fetch(`${url}/api/executions/${executionId}/result?wait=20000`)).json()
    expect(result).toEqual({ status: 'completed', result: 'hello bin' })
    proc.kill('SIGTERM')
    expect(await waitFor(exited, 15_000, 'flowcast to drain and exit')).toBe(0)
  }, 90_000)

  it('flowcast serve my-flows.ts (the README example) under a TypeScript loader: node --import tsx', async () => {
    const bin = join(app, 'node_modules/@flowcast/server/dist/cli/flowcast.js')
    const proc = spawn(process.execPath, ['--import', TSX, bin, 'serve', 'my-flows.ts'], {
      cwd: app,
      env: serveEnv({ PORT: '0', FLOWCAST_AUTH: 'off', LOG_LEVEL: 'info' }),
      stdio: ['ignore', 'pipe', 'pipe'],
    })
    const { url, exited } = await listening(proc, 'flowcast serve my-flows.ts to listen')
    const flows = (await (await fetch(`${url}/api/flows`)).json()) as { flows: { name: string }[] }
    expect(flows.flows.map((f) => f.name)).toEqual(['word-count'])
    const bad = await fetch(`${url}/api/flows/word-count/executions`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ input: { text: '' } }),
    })
    expect(bad.status).toBe(400)
    const started = await fetch(`${url}/api/flows/word-count/executions`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ input: { text: 'to be or not', delayMs: 0 } }),
    })
    const { executionId } = (await started.json()) as { executionId: string }
    const result = await (await fetch(`${url}/api/executions/${executionId}/result?wait=20000`)).json()
    expect(result).toEqual({ status: 'completed', result: { words: 4, longest: 'not' } })
    proc.kill('SIGTERM')
    expect(await waitFor(exited, 15_000, 'flowcast to drain and exit')).toBe(0)
  }, 90_000)
})
