/**
 * Profiles of one measured window of a bench server (between two readings of its CPU), leaving out
 * start-up, connects, the warm-up and shutdown, which --cpu-prof holds. Shared by
 * bench/servers/edge.ts and host.ts.
 *
 * BENCH_PROFILE_DIR: V8's sampling profiler (JS functions only), at a 100 µs interval or
 * BENCH_PROFILE_INTERVAL_US. BENCH_PERF_DIR: Linux `perf record` on the whole process (every
 * thread; V8's C++, GC, builtins, libuv and the kernel beside JS, whose names come from
 * --perf-basic-prof), which the sampling profiler cannot see.
 */
import { type ChildProcess, execFileSync, spawn } from 'node:child_process'
import { closeSync, constants, openSync, readSync, writeFileSync, writeSync } from 'node:fs'
import { Session } from 'node:inspector'

const profileDir = process.env.BENCH_PROFILE_DIR
const perfDir = process.env.BENCH_PERF_DIR
let profiler: Session | undefined
let profiles = 0

/** The space-separated words of environment variable `name` (none when it is unset). */
function envWords(name: string): string[] {
  return process.env[name]?.split(' ').filter(Boolean) ?? []
}

/**
 * Node flags every bench server gets: what the window profiles asked for need (JIT symbols for
 * perf), then BENCH_SERVER_FLAGS (e.g. `--cpu-prof --cpu-prof-dir=/tmp/prof`, which NODE_OPTIONS refuses).
 */
export function serverNodeFlags(): string[] {
  // --perf-basic-prof also turns V8's log on: into the perf directory, not the bench's working one.
  const perfFlags = perfDir
    ? ['--perf-basic-prof', `--logfile=${perfDir}/v8-%p.log`, '--no-logfile-per-isolate']
    : []
  return [...perfFlags, ...envWords('BENCH_SERVER_FLAGS')]
}

/**
 * Starts a window's profile, or stops the running one; does nothing when neither BENCH_PROFILE_DIR
 * nor BENCH_PERF_DIR is set. The V8 profile is written as `<prefix>.<pid>.<n>.cpuprofile`
 * (`<pid>.<n>` without a prefix); perf's as `<prefix>.<pid>.perf.data`, every window of the process
 * in one file, finished when the process exits.
 */
export function toggleProfile(prefix?: string): void {
  if (perfDir) togglePerf(prefix)
  if (!profileDir) return
  if (!profiler) {
    profiler = new Session()
    profiler.connect()
    profiler.post('Profiler.enable')
    profiler.post('Profiler.setSamplingInterval', {
      interval: Number(process.env.BENCH_PROFILE_INTERVAL_US ?? 100),
    })
    profiler.post('Profiler.start')
    return
  }
  const session = profiler
  profiler = undefined
  const name = `${prefix === undefined ? '' : `${prefix}.`}${process.pid}.${++profiles}.cpuprofile`
  session.post('Profiler.stop', (err, { profile }) => {
    if (!err) writeFileSync(`${profileDir}/${name}`, JSON.stringify(profile))
    session.disconnect()
  })
}

interface PerfControl {
  child: ChildProcess
  ctl: number
  ack: number
  on: boolean
}

let perf: PerfControl | undefined

/**
 * One `perf record` per process, attached at the first window with its events off; each window
 * turns them on and off over perf's control FIFO and waits for perf's ack, so the samples are
 * the window's and the attach's latency is not in it.
 */
function togglePerf(prefix?: string): void {
  if (!perf) {
    // Said once and plainly, rather than as ten seconds per window waiting for an ack.
    try {
      execFileSync('perf', ['--version'], { stdio: 'ignore' })
    } catch {
      throw new Error('BENCH_PERF_DIR needs Linux perf on the PATH (Debian: linux-perf)')
    }
    const base = `${perfDir}/${prefix === undefined ? '' : `${prefix}.`}${process.pid}`
    execFileSync('mkfifo', [`${base}.ctl`, `${base}.ack`])
    // O_RDWR: opening a FIFO this way does not wait for the other end (Linux).
    const ctl = openSync(`${base}.ctl`, constants.O_RDWR)
    const ack = openSync(`${base}.ack`, constants.O_RDWR | constants.O_NONBLOCK)
    const freq = process.env.BENCH_PERF_FREQ ?? '4000'
    const args = ['record', '-q', '-e', 'cpu-clock', '-F', freq, '-D', '-1', '-p', String(process.pid)]
    args.push('--control', `fifo:${base}.ctl,${base}.ack`, '-o', `${base}.perf.data`)
    // BENCH_PERF_ARGS="-g": call graphs (JIT code and V8's builtins keep frame pointers).
    args.push(...envWords('BENCH_PERF_ARGS'))
    const child = spawn('perf', args, { stdio: 'inherit' })
    child.on('exit', () => {
      closeSync(ctl)
      closeSync(ack)
    })
    perf = { child, ctl, ack, on: false }
  }
  perf.on = !perf.on
  writeSync(perf.ctl, perf.on ? 'enable\n' : 'disable\n')
  waitForAck(perf.ack)
}

/** Blocks until perf acks a command (bounded: a perf that never answers costs 10 s, not a hang). */
function waitForAck(fd: number): void {
  const buf = Buffer.alloc(64)
  const pause = new Int32Array(new SharedArrayBuffer(4))
  const deadline = Date.now() + 10_000
  while (Date.now() < deadline) {
    try {
      if (readSync(fd, buf) > 0) return
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'EAGAIN') throw err
    }
    Atomics.wait(pause, 0, 0, 1)
  }
  console.error(`[bench] perf did not ack within 10 s (pid ${process.pid})`)
}
