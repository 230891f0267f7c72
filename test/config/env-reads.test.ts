/**
 * Settings are read in one place: no package source touches `process.env` except the two that
 * hand it whole to the settings reader (server/config/sources.ts), which knows each setting's env
 * names from its definition. A new `process.env` read in the engine, the server or the SDK is a
 * setting that bypasses the reference table.
 */
import { readdirSync, readFileSync, statSync } from 'node:fs'
import { join, relative } from 'node:path'
import { fileURLToPath } from 'node:url'
import { describe, expect, it } from 'vitest'

const ROOT = fileURLToPath(new URL('../..', import.meta.url))
const PACKAGES = ['protocol', 'flows', 'server', 'client-sdk']
/** The files that pass the environment to the settings reader, and nothing else. */
const READERS = [
  'server/cli/run.ts', // `flowcast serve`: readConfig(flags, process.env)
  'server/log.ts', // startServer's default logger: the logLevel setting
]

/** Every .ts source under `dir`, without build output and dependencies. */
function sources(dir: string): string[] {
  return readdirSync(dir).flatMap((name) => {
    const path = join(dir, name)
    if (name === 'node_modules' || name === 'dist') return []
    if (statSync(path).isDirectory()) return sources(path)
    return /\.tsx?$/.test(name) && !name.endsWith('.d.ts') ? [path] : []
  })
}

describe('environment reads', () => {
  it('no package source but the settings readers touches process.env', () => {
    const reads: string[] = []
    for (const pkg of PACKAGES) {
      for (const file of sources(join(ROOT, pkg))) {
        if (READERS.includes(relative(ROOT, file))) continue
        readFileSync(file, 'utf8')
          .split('\n')
          .forEach((line, i) => {
            if (line.includes('process.env')) reads.push(`${relative(ROOT, file)}:${i + 1}: ${line.trim()}`)
          })
      }
    }
    expect(reads).toEqual([])
  })
})
