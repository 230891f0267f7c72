#!/usr/bin/env node
// npm test: type-check, run the whole suite, and close with one countable line so that a run
// which executed nothing is visible at a glance.
import { spawnSync } from 'node:child_process'
import { mkdtempSync, readFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'

const tsc = spawnSync('npx', ['tsc', '--noEmit', '-p', 'tsconfig.json'], { stdio: 'inherit' })
if (tsc.status !== 0) {
  console.error('typecheck failed')
  console.log('tests: 0 passed, 1 failed')
  process.exit(1)
}

const out = join(mkdtempSync(join(tmpdir(), 'flowcast-test-')), 'report.json')
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
  failed = (report.numFailedTests ?? 0) + (report.numFailedTestSuites ?? 0)
} catch {
  failed = 1
}
console.log(`tests: ${passed} passed, ${failed} failed`)
process.exit(run.status === 0 && failed === 0 && passed > 0 ? 0 : 1)
