#!/usr/bin/env node
// `npm run build`: every workspace package to ESM JavaScript plus `.d.ts` in its own dist/, in
// dependency order (protocol, flows, client-sdk, server), each with its tsconfig.build.json. The
// build configs have no `paths`, so a package sees the others through their built dist/ exactly
// as an installed copy would. `node scripts/build.mjs flows client-sdk` builds only those.
import { spawnSync } from 'node:child_process'
import { cpSync, readdirSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs'
import { createRequire } from 'node:module'
import { dirname, join, resolve } from 'node:path'
import { fileURLToPath } from 'node:url'
import { buildClientBundle, buildPageBundle } from './build-client.mjs'

const root = resolve(dirname(fileURLToPath(import.meta.url)), '..')
const tsc = createRequire(import.meta.url).resolve('typescript/bin/tsc')

/** The packages, in the order they must build: each only imports those before it. */
export const PACKAGES = ['protocol', 'flows', 'client-sdk', 'server']

/** Files of `dir` (recursively) whose name ends with `suffix`. */
function filesOf(dir, suffix) {
  const out = []
  for (const name of readdirSync(dir)) {
    const path = join(dir, name)
    if (statSync(path).isDirectory()) out.push(...filesOf(path, suffix))
    else if (name.endsWith(suffix)) out.push(path)
  }
  return out
}

// tsc rewrites `./x.ts` to `./x.js` in the JavaScript it emits but not in declarations
// (microsoft/TypeScript#61037). TypeScript reads either, but editors and other tools expect the
// specifier of the file that exists at run time, so the declarations get the same rewrite.
const RELATIVE_TS = /((?:from|import)\s*\(?\s*['"])(\.{1,2}\/[^'"]*?)\.ts(['"])/g

/** Rewrites relative `.ts` specifiers to `.js` in every declaration file under `dist`. */
export function rewriteDeclarations(dist) {
  for (const file of filesOf(dist, '.d.ts')) {
    const text = readFileSync(file, 'utf8')
    const next = text.replace(RELATIVE_TS, '$1$2.js$3')
    if (next !== text) writeFileSync(file, next)
  }
}

/** Builds one package into its dist/ (emptied first, so nothing stale ships). */
export async function buildPackage(name) {
  const dir = join(root, name)
  const dist = join(dir, 'dist')
  rmSync(dist, { recursive: true, force: true })
  const run = spawnSync(process.execPath, [tsc, '-p', join(dir, 'tsconfig.build.json')], { stdio: 'inherit' })
  if (run.status !== 0) throw new Error(`build of ${name} failed (tsc exit ${run.status})`)
  rewriteDeclarations(dist)
  if (name === 'server') {
    // The watch page's static files and both browser bundles (the page's, the SDK's) beside the
    // built code, so the built server never builds (esbuild is not one of its dependencies).
    const pub = join(dir, 'public')
    const out = join(dist, 'public')
    cpSync(pub, out, { recursive: true, filter: (src) => !src.endsWith('.js') })
    await buildClientBundle(join(out, 'flowcast-client.js'))
    await buildPageBundle(join(out, 'page.js'))
  }
}

if (process.argv[1] && resolve(process.argv[1]) === fileURLToPath(import.meta.url)) {
  const wanted = process.argv.slice(2)
  for (const name of wanted) if (!PACKAGES.includes(name)) throw new Error(`no package ${name}`)
  for (const name of PACKAGES) {
    if (wanted.length > 0 && !wanted.includes(name)) continue
    const started = Date.now()
    await buildPackage(name)
    console.log(`built ${name}/dist in ${((Date.now() - started) / 1000).toFixed(1)} s`)
  }
}
