#!/usr/bin/env node
// Builds the browser bundles with esbuild's JS API (ESM, minified): the client SDK alone, and the
// watch page (server/watch-page, bundled with the SDK). The server calls these on start when a
// bundle is missing or stale; `node scripts/build-client.mjs [outDir]` builds both by hand and
// prints their minified and gzipped sizes.
import { mkdirSync, readFileSync } from 'node:fs'
import { dirname, join, resolve } from 'node:path'
import { fileURLToPath } from 'node:url'
import { gzipSync } from 'node:zlib'
import { build } from 'esbuild'

const root = resolve(dirname(fileURLToPath(import.meta.url)), '..')

/** The SDK bundle's default location, served by the server at /flowcast-client.js. */
export const DEFAULT_CLIENT_BUNDLE = resolve(root, 'server/public/flowcast-client.js')
/** The watch page bundle's default location, served by the server at /assets/page.js. */
export const DEFAULT_PAGE_BUNDLE = resolve(root, 'server/public/page.js')

/** esbuild's options for every browser bundle of ours: the served ones and the measured SDK core. */
export const BROWSER_BUILD = {
  bundle: true,
  format: 'esm',
  platform: 'browser',
  target: 'es2022',
  minify: true,
  legalComments: 'none',
  logLevel: 'silent',
}

/** Bundles `entry` for browsers into `outFile`; resolves with its minified and gzipped sizes. */
async function bundleForBrowsers(entry, tsconfig, outFile) {
  mkdirSync(dirname(outFile), { recursive: true })
  await build({
    entryPoints: [entry],
    outfile: outFile,
    // The workspace packages by their names, mapped to their sources by the tsconfig's `paths`.
    tsconfig,
    ...BROWSER_BUILD,
  })
  const code = readFileSync(outFile)
  return { outFile, bytes: code.length, gzipBytes: gzipSync(code, { level: 9 }).length }
}

/** Bundles client-sdk/index.ts for browsers into `outFile`; resolves with its minified and gzipped sizes. */
export function buildClientBundle(outFile = DEFAULT_CLIENT_BUNDLE) {
  return bundleForBrowsers(resolve(root, 'client-sdk/index.ts'), resolve(root, 'tsconfig.json'), outFile)
}

/** Bundles the watch page (server/watch-page/main.ts with the SDK) into `outFile`; resolves with its sizes. */
export function buildPageBundle(outFile = DEFAULT_PAGE_BUNDLE) {
  const dir = resolve(root, 'server/watch-page')
  return bundleForBrowsers(join(dir, 'main.ts'), join(dir, 'tsconfig.json'), outFile)
}

if (process.argv[1] && resolve(process.argv[1]) === fileURLToPath(import.meta.url)) {
  const outDir = process.argv[2] ? resolve(process.argv[2]) : undefined
  for (const built of [
    await buildClientBundle(outDir && join(outDir, 'flowcast-client.js')),
    await buildPageBundle(outDir && join(outDir, 'page.js')),
  ]) {
    const { outFile, bytes, gzipBytes } = built
    console.log(
      `${outFile}: ${(bytes / 1024).toFixed(1)} KiB minified, ${(gzipBytes / 1024).toFixed(1)} KiB gzipped`,
    )
  }
}
