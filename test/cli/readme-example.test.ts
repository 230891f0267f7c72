/**
 * The README's "Add your own flow" is the code the tests run: every fenced block that starts with
 * `// examples/<file>` is that file's text from its first import on (tsc type-checks the files),
 * and the SDK program it shows watches the flows module it shows, served by `flowcast serve`
 * with auth on, to the result the README promises.
 */
import { spawn } from 'node:child_process'
import { readFileSync } from 'node:fs'
import { createRequire } from 'node:module'
import { join } from 'node:path'
import { fileURLToPath } from 'node:url'
import { afterEach, describe, expect, it } from 'vitest'
import { serveCli, stopAll } from '../helpers/cli.ts'
import { waitFor } from '../helpers/wait.ts'

afterEach(stopAll)

const ROOT = fileURLToPath(new URL('../..', import.meta.url))
const TSX = createRequire(import.meta.url).resolve('tsx')
const readme = readFileSync(join(ROOT, 'README.md'), 'utf8')

/** The README's code blocks that name an example file: [path, text after the naming line]. */
function exampleBlocks(): [string, string][] {
  const out: [string, string][] = []
  for (const m of readme.matchAll(/```ts\n\/\/ (examples\/[\w./-]+)\n([\s\S]*?)```/g))
    out.push([m[1]!, m[2]!])
  return out
}

/** A file's text from its first import on (the prose header stays in the file). */
function fromFirstImport(path: string): string {
  const text = readFileSync(join(ROOT, path), 'utf8')
  return text.slice(text.indexOf('\nimport ') + 1)
}

describe('README: Add your own flow', () => {
  it('shows examples/my-flows.ts and examples/watch-my-flow.ts as they are', () => {
    const blocks = exampleBlocks()
    expect(blocks.map(([path]) => path)).toEqual(
      expect.arrayContaining(['examples/my-flows.ts', 'examples/watch-my-flow.ts']),
    )
    for (const [path, text] of blocks) expect(text, path).toBe(fromFirstImport(path))
  })

  it('the SDK program it shows watches the flow it shows, served by flowcast serve with auth on', async () => {
    const apiKey = 'readme-example-key-0123456789'
    const cli = await serveCli(['examples/my-flows.ts'], { FLOWCAST_API_KEY: apiKey })
    const sdk = spawn(process.execPath, ['--import', TSX, 'examples/watch-my-flow.ts'], {
      cwd: ROOT,
      env: { ...process.env, FLOWCAST_URL: cli.url, FLOWCAST_API_KEY: apiKey },
      stdio: ['ignore', 'pipe', 'pipe'],
    })
    let out = ''
    let err = ''
    sdk.stdout!.on('data', (c: Buffer) => {
      out += c.toString()
    })
    sdk.stderr!.on('data', (c: Buffer) => {
      err += c.toString()
    })
    const code = await waitFor(
      new Promise<number | null>((resolve) => sdk.once('exit', resolve)),
      30_000,
      'the SDK example to finish',
    ).finally(() => sdk.kill('SIGKILL'))
    expect(err).toBe('')
    expect(code).toBe(0)
    expect(out.trim().split('\n')).toEqual([
      'to',
      'be',
      'or',
      'not',
      JSON.stringify({ status: 'completed', result: { words: 4, longest: 'not' } }),
    ])
  })
})
