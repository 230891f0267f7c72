/**
 * Building and packing the workspace packages as a release would, and installing the tarballs into
 * throw-away apps, for test/packages/packed.test.ts. Every command runs with a bound and its output
 * kept, so a failure says what npm or tsc said.
 */
import { spawn } from 'node:child_process'
import { mkdirSync, writeFileSync } from 'node:fs'
import { dirname, join, resolve } from 'node:path'
import { fileURLToPath } from 'node:url'

export const root = resolve(dirname(fileURLToPath(import.meta.url)), '../..')

/** The workspace folders in build order, with their package names. */
export const PACKAGES = [
  { dir: 'protocol', name: '@flowcast/protocol' },
  { dir: 'flows', name: '@flowcast/flows' },
  { dir: 'client-sdk', name: '@flowcast/client' },
  { dir: 'server', name: '@flowcast/server' },
] as const

export type PackageName = (typeof PACKAGES)[number]['name']

/** One packed tarball: its path and the files in it (paths inside the package). */
export interface Pack {
  tarball: string
  files: string[]
}

/**
 * The environment for a child npm: without the npm_* variables of the `npm test` around us, which
 * would otherwise make the child think it runs inside this workspace.
 */
function childEnv(extra: Record<string, string> = {}): NodeJS.ProcessEnv {
  const env: NodeJS.ProcessEnv = {}
  for (const [k, v] of Object.entries(process.env)) if (!/^npm_/i.test(k)) env[k] = v
  return { ...env, ...extra }
}

/** Runs `cmd args` in `cwd`; resolves with its stdout, rejects with all of its output on failure or after `timeoutMs`. */
export function run(cmd: string, args: string[], cwd: string, timeoutMs: number): Promise<string> {
  return new Promise((resolvePromise, reject) => {
    const child = spawn(cmd, args, { cwd, env: childEnv(), stdio: ['ignore', 'pipe', 'pipe'] })
    let stdout = ''
    let stderr = ''
    child.stdout.on('data', (c: Buffer) => {
      stdout += c.toString()
    })
    child.stderr.on('data', (c: Buffer) => {
      stderr += c.toString()
    })
    const timer = setTimeout(() => {
      child.kill('SIGKILL')
      reject(new Error(`${cmd} ${args.join(' ')} took over ${timeoutMs} ms\n${stdout}\n${stderr}`))
    }, timeoutMs)
    child.once('error', (err) => {
      clearTimeout(timer)
      reject(err)
    })
    child.once('close', (code) => {
      clearTimeout(timer)
      if (code === 0) resolvePromise(stdout)
      else reject(new Error(`${cmd} ${args.join(' ')} exited ${code}\n${stdout}\n${stderr}`))
    })
  })
}

/** Builds every package (scripts/build.mjs), then packs each into `dir` with npm pack. */
export async function buildAndPack(dir: string): Promise<Map<PackageName, Pack>> {
  await run(process.execPath, [join(root, 'scripts/build.mjs')], root, 400_000)
  const packs = new Map<PackageName, Pack>()
  for (const pkg of PACKAGES) {
    // --ignore-scripts: the build above already ran; pack exactly that.
    const out = await run(
      'npm',
      ['pack', '--json', '--ignore-scripts', '--pack-destination', dir],
      join(root, pkg.dir),
      60_000,
    )
    const [info] = JSON.parse(out) as { filename: string; files: { path: string }[] }[]
    packs.set(pkg.name, { tarball: join(dir, info!.filename), files: info!.files.map((f) => f.path).sort() })
  }
  return packs
}

/**
 * Writes an app at `dir` (package.json from `manifest`, then `files`) and installs its
 * dependencies: the local tarballs, and what they need from the npm cache or the registry.
 * `omitDev` installs as a production deploy does (`npm install --omit=dev`).
 */
export async function installApp(
  dir: string,
  manifest: Record<string, unknown>,
  files: Record<string, string>,
  options: { omitDev?: boolean } = {},
): Promise<void> {
  mkdirSync(dir, { recursive: true })
  writeFileSync(join(dir, 'package.json'), `${JSON.stringify(manifest, null, 2)}\n`)
  for (const [path, text] of Object.entries(files)) {
    mkdirSync(dirname(join(dir, path)), { recursive: true })
    writeFileSync(join(dir, path), text)
  }
  await run(
    'npm',
    [
      'install',
      '--prefer-offline',
      '--no-audit',
      '--no-fund',
      '--ignore-scripts',
      '--loglevel=error',
      ...(options.omitDev ? ['--omit=dev'] : []),
    ],
    dir,
    240_000,
  )
}
