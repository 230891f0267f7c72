#!/usr/bin/env node
// The client SDK's size as a browser app would ship it: esbuild bundles an entry (minified ESM,
// React and react-dom left external), and its own metafile says how many bytes each input adds.
// `node scripts/client-size.mjs` prints the core, the React bindings and an import of only
// isFlowcastError; the bundle test asserts the core budget with the same function.
import { dirname, resolve } from 'node:path'
import { fileURLToPath } from 'node:url'
import { gzipSync } from 'node:zlib'
import { build } from 'esbuild'
import { BROWSER_BUILD } from './build-client.mjs'

const root = resolve(dirname(fileURLToPath(import.meta.url)), '..')

/** The entries measured: what an application imports. */
export const SIZE_ENTRIES = {
  core: "export * from '@flowcast/client'",
  'isFlowcastError only': "export { isFlowcastError } from '@flowcast/client'",
}

/** Bundles `contents` (an ES module importing the SDK) and measures it with the metafile. */
export async function measureClientSize(contents) {
  const result = await build({
    stdin: { contents, resolveDir: root, loader: 'ts', sourcefile: 'entry.ts' },
    ...BROWSER_BUILD,
    write: false,
    metafile: true,
    external: ['react', 'react-dom', 'react/jsx-runtime'],
    alias: {
      '@flowcast/protocol': resolve(root, 'protocol/index.ts'),
      '@flowcast/client/react': resolve(root, 'client-sdk/react.ts'),
      '@flowcast/client': resolve(root, 'client-sdk/index.ts'),
    },
  })
  const [output] = Object.values(result.metafile.outputs)
  const code = result.outputFiles[0].contents
  const inputs = Object.entries(output.inputs)
    .map(([path, { bytesInOutput }]) => ({ path, bytes: bytesInOutput }))
    .filter((i) => i.bytes > 0)
    .sort((a, b) => b.bytes - a.bytes)
  return {
    bytes: output.bytes,
    gzipBytes: gzipSync(code, { level: 9 }).length,
    inputs,
    code: Buffer.from(code).toString('utf8'),
  }
}

/** One line per entry: minified and gzipped KiB, and its largest inputs. */
export function formatSize(name, size) {
  const kib = (n) => (n / 1024).toFixed(2)
  const top = size.inputs
    .slice(0, 4)
    .map((i) => `${i.path} ${kib(i.bytes)}`)
    .join(', ')
  return `${name}: ${kib(size.bytes)} KiB minified, ${kib(size.gzipBytes)} KiB gzipped (largest: ${top})`
}

if (process.argv[1] && resolve(process.argv[1]) === fileURLToPath(import.meta.url)) {
  for (const [name, contents] of Object.entries(SIZE_ENTRIES))
    console.log(formatSize(name, await measureClientSize(contents)))
}
