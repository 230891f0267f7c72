/**
 * BENCH_PROFILE_DIR: a CPU profile of one measured window of a bench server (between two readings
 * of its CPU), at a 100 µs interval or BENCH_PROFILE_INTERVAL_US. Unlike --cpu-prof it leaves out
 * start-up, connects, the warm-up and shutdown. Shared by bench/servers/edge.ts and host.ts.
 */
import { writeFileSync } from 'node:fs'
import { Session } from 'node:inspector'

const profileDir = process.env.BENCH_PROFILE_DIR
let profiler: Session | undefined
let profiles = 0

/**
 * Starts a profile, or stops the running one and writes it as `<prefix>.<pid>.<n>.cpuprofile`
 * (`<pid>.<n>` without a prefix); does nothing without BENCH_PROFILE_DIR.
 */
export function toggleProfile(prefix?: string): void {
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
