/**
 * Dependency direction, read from the sources: the shared protocol imports only zod; the engine
 * imports neither the server nor the client; the client imports neither at run time; every import
 * a package makes is declared in its package.json; no file imports upward (its own folder's
 * index, its own package by name, a layer above it) and no files import each other in a circle.
 * The same check runs over a small tree with one planted violation of each rule, so a check that
 * stopped seeing anything would fail here rather than pass quietly.
 */
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { dirname, join, resolve } from 'node:path'
import { fileURLToPath } from 'node:url'
import { afterAll, describe, expect, it } from 'vitest'
import { EXEMPTIONS, RULES } from './dependency-rules.ts'
import { checkDependencies, importsOf } from './import-graph.ts'

const root = resolve(dirname(fileURLToPath(import.meta.url)), '../..')

describe('dependency direction', () => {
  it('the workspace packages obey every rule', () => {
    expect(checkDependencies(root, RULES, EXEMPTIONS)).toEqual([])
  })

  it('reads every kind of import and tells type-only ones apart', () => {
    const dir = mkdtempSync(join(tmpdir(), 'flowcast-imports-'))
    try {
      const file = join(dir, 'a.ts')
      writeFileSync(
        file,
        [
          "import { a } from './b.ts'",
          "import type { T } from 'x'",
          "import { type U } from 'y'",
          "export type { V } from 'z'",
          "export * from './c.ts'",
          "type W = import('w').W",
          "const m = await import('./d.ts')",
        ].join('\n'),
      )
      expect(importsOf(dir, file).map((e) => [e.specifier, e.typeOnly, e.dynamic, e.line])).toEqual([
        ['./b.ts', false, false, 1],
        ['x', true, false, 2],
        // verbatimModuleSyntax keeps `import 'y'` in the JavaScript, so it is a run-time import.
        ['y', false, false, 3],
        ['z', true, false, 4],
        ['./c.ts', false, false, 5],
        ['w', true, false, 6],
        ['./d.ts', false, true, 7],
      ])
    } finally {
      rmSync(dir, { recursive: true, force: true })
    }
  })

  describe('planted violations are each reported', () => {
    const dir = mkdtempSync(join(tmpdir(), 'flowcast-deps-'))
    afterAll(() => rmSync(dir, { recursive: true, force: true }))
    const write = (path: string, text: string) => {
      mkdirSync(dirname(join(dir, path)), { recursive: true })
      writeFileSync(join(dir, path), text)
    }
    const manifest = (name: string, deps: Record<string, string>, exports: Record<string, string> = {}) =>
      JSON.stringify({
        name,
        exports: { '.': { types: './dist/index.d.ts', default: './dist/index.js' }, ...exports },
        dependencies: deps,
      })
    write('package.json', JSON.stringify({ workspaces: ['protocol', 'flows', 'client-sdk', 'server'] }))
    write('protocol/package.json', manifest('@flowcast/protocol', { zod: '*' }))
    write('protocol/index.ts', "export * from './frames.ts'\n")
    write(
      'protocol/frames.ts',
      "import { z } from 'zod'\nimport { nanoid } from 'nanoid'\nexport const f = z\n",
    )
    write('protocol/fs.ts', "import { readFileSync } from 'node:fs'\nexport const r = readFileSync\n")
    write(
      'flows/package.json',
      manifest(
        '@flowcast/flows',
        { '@flowcast/protocol': '*', unused: '*' },
        { './catalog': './dist/catalog/index.js' },
      ),
    )
    write('flows/index.ts', "export * from './triggerflow/flow.ts'\n")
    write('flows/triggerflow/flow.ts', "import { a } from '../catalog/a.ts'\nexport const flow = a\n")
    write('flows/triggerflow/up.ts', "import { flow } from './index.ts'\nexport const up = flow\n")
    write('flows/triggerflow/index.ts', "export * from './flow.ts'\n")
    write('flows/triggerflow/self.ts', "import { flow } from '@flowcast/flows'\nexport const s = flow\n")
    write('flows/catalog/index.ts', "export * from './a.ts'\n")
    write('flows/catalog/a.ts', "import { b } from './b.ts'\nexport const a = b\n")
    write('flows/catalog/b.ts', "import { a } from './a.ts'\nexport const b = a\n")
    write('flows/catalog/server.ts', "import { s } from '@flowcast/server'\nexport const x = s\n")
    write('flows/catalog/deep.ts', "import { y } from '@flowcast/protocol/frames'\nexport const d = y\n")
    write('client-sdk/package.json', manifest('@flowcast/client', { '@flowcast/protocol': '*' }))
    write(
      'client-sdk/index.ts',
      "import type { flow } from '@flowcast/flows'\nimport { f } from '@flowcast/protocol'\nexport type F = typeof flow\nexport const g = f\n",
    )
    write('client-sdk/run.ts', "import { flow } from '@flowcast/flows'\nexport const r = flow\n")
    write('client-sdk/out.ts', "import { s } from '../server/index.ts'\nexport const o = s\n")
    write('server/package.json', manifest('@flowcast/server', { '@flowcast/flows': '*' }))
    write(
      'server/index.ts',
      "import { flow } from '@flowcast/flows'\nimport { c } from '@flowcast/client'\nimport { Hono } from 'hono'\nexport const s = [flow, c, Hono]\n",
    )

    write('server/fanout/room.ts', "import { hub } from '../ws/hub.ts'\nexport const room = hub\n")
    write('server/ws/hub.ts', 'export const hub = 1\n')
    write('server/page.ts', "import { main } from './watch-page/main.ts'\nexport const p = main\n")
    write(
      'server/watch-page/main.ts',
      "import { startServer } from '@flowcast/server'\nexport const main = startServer\n",
    )

    const problems = checkDependencies(dir, RULES, EXEMPTIONS)
    const planted: [string, string][] = [
      [
        'protocol imports a package other than zod',
        'protocol/frames.ts:2: protocol may import only zod, not nanoid',
      ],
      [
        'an import is not declared',
        'server/index.ts:3: hono is imported but not a dependency in server/package.json',
      ],
      [
        'a browser package imports a Node built-in',
        'protocol/fs.ts:1: node:fs is a Node built-in; protocol runs in browsers',
      ],
      ['a declared dependency is never imported', 'flows/package.json: dependency unused is never imported'],
      [
        'a lower layer imports a higher one',
        'flows/triggerflow/flow.ts:1: triggerflow imports ../catalog/a.ts from the layer above it (catalog)',
      ],
      [
        'a file imports its own folder index',
        'flows/triggerflow/up.ts:1: imports ./index.ts, the index of its own folder (upward)',
      ],
      [
        'a file imports its own package',
        'flows/triggerflow/self.ts:1: imports its own package @flowcast/flows (upward)',
      ],
      ['the engine imports the server', 'flows/catalog/server.ts:1: flows may not import @flowcast/server'],
      [
        'a subpath that is not exported',
        "flows/catalog/deep.ts:1: @flowcast/protocol/frames is not in @flowcast/protocol's exports",
      ],
      [
        'the client imports the engine at run time',
        'client-sdk/run.ts:1: client-sdk may import @flowcast/flows for types only (import type)',
      ],
      ['a relative import leaves its package', 'client-sdk/out.ts:1: ../server/index.ts leaves client-sdk/'],
      ['the server imports the client', 'server/index.ts:2: server may not import @flowcast/client'],
      ['the server imports the bundled page', 'server/page.ts:1: ./watch-page/main.ts leaves server/'],
      [
        'the page imports the server',
        'server/watch-page/main.ts:1: server/watch-page may not import @flowcast/server',
      ],
      [
        'the fan-out imports a transport',
        'server/fanout/room.ts:1: fanout imports ../ws/hub.ts from the layer above it (ws)',
      ],
      ['two files import each other', 'import circle: flows/catalog/a.ts -> flows/catalog/b.ts'],
    ]
    it.each(planted)('%s', (_what, line) => {
      expect(problems).toContain(line)
    })
    it('and nothing that is allowed', () => {
      // client-sdk/index.ts imports a flow type, which is allowed; but its declarations will name
      // @flowcast/flows, so the package must declare it (a peer dependency would do).
      const extra = problems.filter((p) => !planted.some(([, line]) => line === p))
      expect(extra).toEqual([
        'client-sdk/index.ts:1: @flowcast/flows is imported but not a dependency in client-sdk/package.json',
      ])
    })
  })
})
