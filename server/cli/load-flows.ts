/**
 * Loads the flows a user's module exports, for `flowcast serve ./my-flows.js`. Every export that
 * is a TriggerFlow, or an array of them, is served (so `export const flows = [...]`, a default
 * export and named exports all work). A TypeScript module is imported through tsx when plain
 * `import()` cannot read it (Node 20 has no type stripping) and tsx is installed beside the app or
 * the server; under a loader already (`node --import tsx`, newer Node) it is imported as is.
 */
import { existsSync } from 'node:fs'
import { createRequire } from 'node:module'
import { resolve } from 'node:path'
import { pathToFileURL } from 'node:url'
import type { TriggerFlow } from '@flowcast/flows'
import { ConfigError } from '../config/sources.ts'

/** A TriggerFlow, told by its shape so that a second copy of @flowcast/flows in the app still counts. */
function isFlow(value: unknown): value is TriggerFlow<any> {
  const v = value as { name?: unknown; createExecution?: unknown; chunk?: unknown } | null
  return (
    typeof v === 'object' &&
    v !== null &&
    typeof v.name === 'string' &&
    typeof v.createExecution === 'function' &&
    typeof v.chunk === 'function'
  )
}

/** tsx's `tsImport`, found beside the module first, then beside the server; undefined without tsx. */
function findTsImport(modulePath: string): ((url: string, parent: string) => Promise<any>) | undefined {
  for (const from of [modulePath, import.meta.url]) {
    try {
      const api = createRequire(from)('tsx/esm/api') as {
        tsImport?: (url: string, parent: string) => Promise<any>
      }
      if (typeof api.tsImport === 'function') return api.tsImport
    } catch {
      // Not installed there: try the next place.
    }
  }
  return undefined
}

/** Imports `path` (relative to `cwd`), with tsx for TypeScript when needed. */
async function importModule(path: string, cwd: string): Promise<Record<string, unknown>> {
  const absolute = resolve(cwd, path)
  if (!existsSync(absolute)) throw new ConfigError(`flows module not found: ${absolute}`)
  const url = pathToFileURL(absolute).href
  try {
    return await import(url)
  } catch (err) {
    const code = (err as { code?: string }).code
    if (code !== 'ERR_UNKNOWN_FILE_EXTENSION' || !/\.[cm]?tsx?$/.test(absolute)) throw err
    const tsImport = findTsImport(absolute)
    if (!tsImport)
      throw new ConfigError(
        `${path} is TypeScript and no loader is present: install tsx in the app (npm install -D tsx), build it to JavaScript, or run node with a loader`,
      )
    return await tsImport(url, import.meta.url)
  }
}

/** The flows `path` exports, each once, in export order; a module exporting none is a ConfigError. */
export async function loadFlows(path: string, cwd = process.cwd()): Promise<TriggerFlow<any>[]> {
  const mod = await importModule(path, cwd)
  const found = new Set<TriggerFlow<any>>()
  for (const value of Object.values(mod)) {
    if (isFlow(value)) found.add(value)
    else if (Array.isArray(value)) for (const v of value) if (isFlow(v)) found.add(v)
  }
  if (found.size === 0)
    throw new ConfigError(`${path} exports no TriggerFlow (export one, or \`export const flows = [...]\`)`)
  return [...found]
}
