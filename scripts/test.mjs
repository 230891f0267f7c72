#!/usr/bin/env node
// npm test: type-check, lint, run the whole suite, and close with one countable line so that a run
// which executed nothing is visible at a glance.
import { spawnSync } from 'node:child_process'
import { mkdtempSync, readFileSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'

// Static checks first: a suite that passes on code that does not type-check or lint proves little.
for (const [what, cmd] of [
  ['typecheck', ['tsc', '--noEmit', '-p', 'tsconfig.json']],
  // The watch page is browser code: checked on its own, with the DOM and without Node's types.
  ['typecheck (watch page)', ['tsc', '--noEmit', '-p', 'server/watch-page/tsconfig.json']],
  // The React example app: JSX and bundler resolution, its own settings (Vite's React template's).
  ['typecheck (react app)', ['tsc', '--noEmit', '-p', 'examples/react-app/tsconfig.json']],
  ['lint', ['biome', 'check', '.']],
]) {
  if (spawnSync('npx', cmd, { stdio: 'inherit' }).status !== 0) {
    console.error(`${what} failed`)
    console.log('tests: 0 passed, 1 failed')
    process.exit(1)
  }
}

const dir = mkdtempSync(join(tmpdir(), 'flowcast-test-'))
const out = join(dir, 'report.json')
const args = [
  'vitest',
  'run',
  '--reporter=default',
  '--reporter=json',
  `--outputFile.json=${out}`,
  ...process.argv.slice(2),
]
const run = spawnSync('npx', args, { stdio: 'inherit' })

let passed = 0
let failed = 0
try {
  const report = JSON.parse(readFileSync(out, 'utf8'))
  passed = report.numPassedTests ?? 0
  failed = report.numFailedTests ?? 0
  // A file that failed before any of its tests ran (an import error, a failing hook) counts as one
  // failed test, so that it cannot vanish from the count; a file whose tests failed is already counted.
  for (const file of report.testResults ?? []) {
    const anyFailed = (file.assertionResults ?? []).some((t) => t.status === 'failed')
    if (file.status === 'failed' && !anyFailed) failed += 1
  }
} catch {
  failed = 1
} finally {
  rmSync(dir, { recursive: true, force: true })
}
console.log(`tests: ${passed} passed, ${failed} failed`)
process.exit(run.status === 0 && failed === 0 && passed > 0 ? 0 : 1)
