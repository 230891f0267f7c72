/**
 * `npm run docs:config`: rewrites the README's configuration table from the settings'
 * definitions (server/config/settings.ts); test/config/reference.test.ts fails while it is stale.
 */
import { spawnSync } from 'node:child_process'
import { readFileSync, writeFileSync } from 'node:fs'
import { fileURLToPath } from 'node:url'
import { readmeTable, referenceTable, tableCells, withReference } from '../server/config/reference.ts'

const path = new URL('../README.md', import.meta.url)
const before = readFileSync(path, 'utf8')
const current = readmeTable(before)
const stale =
  current === undefined ||
  JSON.stringify(tableCells(current)) !== JSON.stringify(tableCells(referenceTable()))
if (stale) {
  const after = withReference(before)
  writeFileSync(path, after)
  // The formatter aligns the table's columns; the test compares cells, so either layout passes.
  spawnSync('npx', ['biome', 'format', '--write', fileURLToPath(path)], { stdio: 'inherit' })
}
console.log(stale ? 'README configuration table: rewritten' : 'README configuration table: up to date')
