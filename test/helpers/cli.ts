/**
 * `flowcast` as a real child process: node itself with tsx's loader (one process, so a signal
 * reaches the server), stdout parsed as JSON lines, stderr kept for messages, and a bound on every
 * wait. Each started process is killed by `stopAll()` (call it in afterEach).
 */
import { type ChildProcess, spawn } from 'node:child_process'
import { createRequire } from 'node:module'
import { fileURLToPath } from 'node:url'
import { waitFor } from './wait.ts'

const ROOT = fileURLToPath(new URL('../..', import.meta.url))
const TSX = createRequire(import.meta.url).resolve('tsx')
const BIN = fileURLToPath(new URL('../../server/cli/flowcast.ts', import.meta.url))

/** A running (or exited) `flowcast` process. */
export interface CliProcess {
  readonly child: ChildProcess
  /** Every stdout line so far, as written. */
  readonly lines: string[]
  /** stderr so far. */
  stderr(): string
  /** Resolves with the exit code (null when killed by a signal). */
  readonly exited: Promise<number | null>
  /** Resolves with the first stdout JSON line that `match` accepts; rejects after `timeoutMs` or at exit. */
  line(
    match: (entry: Record<string, any>) => boolean,
    timeoutMs?: number,
    what?: string,
  ): Promise<Record<string, any>>
}

const started = new Set<ChildProcess>()

/** Env without the settings of the test runner's own shell, so a test says every setting it relies on. */
function cleanEnv(env: NodeJS.ProcessEnv): NodeJS.ProcessEnv {
  const out: NodeJS.ProcessEnv = {}
  for (const [k, v] of Object.entries(process.env))
    if (!k.startsWith('FLOWCAST_') && !['PORT', 'HOST', 'REDIS_URL', 'LOG_LEVEL', 'VITEST'].includes(k))
      out[k] = v
  return { ...out, ...env }
}

/** Starts `flowcast <args>` in the repository root with `env` (PORT=0 unless given). */
export function runCli(args: string[], env: NodeJS.ProcessEnv = {}): CliProcess {
  const child = spawn(process.execPath, ['--import', TSX, BIN, ...args], {
    cwd: ROOT,
    env: cleanEnv({ PORT: '0', ...env }),
    stdio: ['ignore', 'pipe', 'pipe'],
  })
  started.add(child)
  const lines: string[] = []
  let partial = ''
  let err = ''
  const waiters = new Set<() => void>()
  child.stdout!.on('data', (chunk: Buffer) => {
    partial += chunk.toString()
    const parts = partial.split('\n')
    partial = parts.pop()!
    lines.push(...parts)
    for (const w of waiters) w()
  })
  child.stderr!.on('data', (chunk: Buffer) => {
    err += chunk.toString()
  })
  const exited = new Promise<number | null>((resolve) =>
    child.once('exit', (code) => {
      started.delete(child)
      if (partial) lines.push(partial)
      for (const w of waiters) w()
      resolve(code)
    }),
  )
  const line: CliProcess['line'] = (match, timeoutMs = 20_000, what = 'a log line') =>
    waitFor(
      new Promise((resolve, reject) => {
        const check = () => {
          for (const l of lines) {
            let entry: Record<string, any>
            try {
              entry = JSON.parse(l)
            } catch {
              continue
            }
            if (match(entry)) {
              waiters.delete(check)
              return resolve(entry)
            }
          }
          if (child.exitCode !== null || child.signalCode !== null) {
            waiters.delete(check)
            reject(
              new Error(`flowcast exited (${child.exitCode}) before ${what}:\n${lines.join('\n')}\n${err}`),
            )
          }
        }
        waiters.add(check)
        check()
      }),
      timeoutMs,
      what,
    )
  return { child, lines, stderr: () => err, exited, line }
}

/** Starts `flowcast serve <args>` and resolves with the process and its URL once it listens. */
export async function serveCli(
  args: string[],
  env: NodeJS.ProcessEnv = {},
): Promise<CliProcess & { url: string }> {
  const cli = runCli(['serve', ...args], env)
  const listening = await cli.line((e) => e.msg === 'listening', 20_000, 'flowcast to listen')
  return Object.assign(cli, { url: listening.url as string })
}

/** Kills every process still running (SIGKILL) and waits for each to exit. */
export async function stopAll(): Promise<void> {
  await Promise.all(
    [...started].map(
      (child) =>
        new Promise<void>((resolve) => {
          if (child.exitCode !== null || child.signalCode !== null) return resolve()
          child.once('exit', () => resolve())
          child.kill('SIGKILL')
        }),
    ),
  )
}
