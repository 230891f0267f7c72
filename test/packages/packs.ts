/**
 * Building and packing the workspace packages as a release would, and installing the tarballs into
 * throw-away apps, for test/packages/packed.test.ts. Every command runs with a bound and its output
 * kept, so a failure says what npm or tsc said.
 */
import { spawn, spawnSync } from 'node:child_process'
import { createHash } from 'node:crypto'
import {
  existsSync,
  mkdirSync,
  readdirSync,
  readFileSync,
  renameSync,
  rmSync,
  statSync,
  writeFileSync,
} from 'node:fs'
import { tmpdir } from 'node:os'
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

/**
 * Runs `cmd args` in `cwd` (with `env` added); resolves with its stdout, rejects with all of its
 * output on failure or after `timeoutMs`.
 */
export function run(
  cmd: string,
  args: string[],
  cwd: string,
  timeoutMs: number,
  env: Record<string, string> = {},
): Promise<string> {
  return new Promise((resolvePromise, reject) => {
    const child = spawn(cmd, args, { cwd, env: childEnv(env), stdio: ['ignore', 'pipe', 'pipe'] })
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
 * Every file a build reads: the packages' sources and manifests and the build scripts, as git
 * sees them (tracked or new, never ignored), so generated files such as the served bundles do not
 * count.
 */
function buildInputs(): string[] {
  const dirs = [
    ...PACKAGES.map((p) => p.dir),
    'scripts/build.mjs',
    'scripts/build-client.mjs',
    'package.json',
    'LICENSE',
  ]
  const out = spawnSync(
    'git',
    ['ls-files', '-z', '--cached', '--others', '--exclude-standard', '--', ...dirs],
    {
      cwd: root,
      encoding: 'utf8',
    },
  )
  if (out.status !== 0) throw new Error(`git ls-files failed: ${out.stderr}`)
  return [...new Set(out.stdout.split('\0').filter(Boolean))]
    .sort()
    .map((f) => join(root, f))
    .filter((f) => existsSync(f))
}

/** A hash of everything a build reads: equal hashes build equal tarballs. */
function buildFingerprint(): string {
  const hash = createHash('sha256')
  for (const file of buildInputs()) hash.update(file).update('\0').update(readFileSync(file)).update('\0')
  return hash.digest('hex').slice(0, 16)
}

/** True while process `pid` runs. */
function alive(pid: number): boolean {
  try {
    process.kill(pid, 0)
    return true
  } catch (err) {
    return (err as NodeJS.ErrnoException).code === 'EPERM'
  }
}

/**
 * Runs `fn` holding a lock across processes (an atomic mkdir; a lock whose holder died is taken
 * over), waiting up to `timeoutMs` for another holder to finish.
 */
async function withLock<T>(lock: string, timeoutMs: number, fn: () => Promise<T>): Promise<T> {
  const deadline = Date.now() + timeoutMs
  for (;;) {
    try {
      mkdirSync(lock)
      writeFileSync(join(lock, 'pid'), String(process.pid))
      break
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'EEXIST') throw err
      let pid = Number.NaN
      try {
        pid = Number(readFileSync(join(lock, 'pid'), 'utf8'))
      } catch {
        // Just made by its holder, pid not written yet.
      }
      if (Number.isInteger(pid) && !alive(pid)) rmSync(lock, { recursive: true, force: true })
      else if (Date.now() > deadline) throw new Error(`${lock} still held (pid ${pid}) after ${timeoutMs} ms`)
      else await new Promise<void>((r) => setTimeout(r, 200))
    }
  }
  try {
    return await fn()
  } finally {
    rmSync(lock, { recursive: true, force: true })
  }
}

/**
 * The tarballs of the current sources, built and packed once and shared by every test file that
 * needs them: test files run in parallel workers, and the build empties each package's dist/, so
 * two builds at once would pack each other's half-written output. One lock serialises them; the
 * second caller finds the tarballs of the same sources (same fingerprint) and reuses them. Older
 * fingerprints' folders are removed.
 */
export async function sharedPacks(): Promise<Map<PackageName, Pack>> {
  // One folder per checkout: another worktree's build is another build.
  const base = join(
    tmpdir(),
    `flowcast-packs-${createHash('sha256').update(root).digest('hex').slice(0, 12)}`,
  )
  mkdirSync(base, { recursive: true })
  return withLock(join(base, 'lock'), 900_000, async () => {
    const fingerprint = buildFingerprint()
    const dir = join(base, fingerprint)
    const index = join(dir, 'packs.json')
    if (existsSync(index)) {
      const saved = JSON.parse(readFileSync(index, 'utf8')) as [PackageName, Pack][]
      if (saved.every(([, pack]) => existsSync(pack.tarball))) return new Map(saved)
    }
    // Stale builds of this checkout go; one of the last hour may still be read by a running test.
    for (const name of readdirSync(base)) {
      const old = join(base, name)
      if (name !== 'lock' && Date.now() - statSync(old).mtimeMs > 3_600_000)
        rmSync(old, { recursive: true, force: true })
    }
    mkdirSync(dir, { recursive: true })
    const packs = await buildAndPack(dir)
    // Written whole, then renamed: a reader never sees half an index.
    writeFileSync(`${index}.tmp`, JSON.stringify([...packs]))
    renameSync(`${index}.tmp`, index)
    return packs
  })
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
