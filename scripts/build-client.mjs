#!/usr/bin/env node
// Builds the browser bundle of the client SDK (ESM, minified) with esbuild's JS API. The server
// calls buildClientBundle() on start when the file is missing; `node scripts/build-client.mjs [out]`
// builds it by hand and prints the minified and gzipped sizes.
import { mkdirSync, readFileSync } from 'node:fs'
import { dirname, resolve } from 'node:path'
import { fileURLToPath } from 'node:url'
import { gzipSync } from 'node:zlib'
import { build } from 'esbuild'

const root = resolve(dirname(fileURLToPath(import.meta.url)), '..')

/** The bundle's default location, served by the server at /flowcast-client.js. */
export const DEFAULT_CLIENT_BUNDLE = resolve(root, 'server/public/flowcast-client.js')

/** Bundles client-sdk/index.ts for browsers into `outFile`; resolves with its minified and gzipped sizes. */
export async function buildClientBundle(outFile = DEFAULT_CLIENT_BUNDLE) {
  mkdirSync(dirname(outFile), { recursive: true })
  await build({
    entryPoints: [resolve(root, 'client-sdk/index.ts')],
    outfile: outFile,
    bundle: true,
    format: 'esm',
    platform: 'browser',
    target: 'es2022',
    minify: true,
    legalComments: 'none',
    logLevel: 'silent',
  })
  const code = readFileSync(outFile)
  return { outFile, bytes: code.length, gzipBytes: gzipSync(code, { level: 9 }).length }
}

if (process.argv[1] && resolve(process.argv[1]) === fileURLToPath(import.meta.url)) {
  const { outFile, bytes, gzipBytes } = await buildClientBundle(
    process.argv[2] ? resolve(process.argv[2]) : undefined,
  )
  console.log(
    `${outFile}: ${(bytes / 1024).toFixed(1)} KiB minified, ${(gzipBytes / 1024).toFixed(1)} KiB gzipped`,
  )
}
