/**
 * The main thread's own CPU time (Linux only), for timing one callback: process.cpuUsage() counts
 * every thread of the process (GC helpers, the compiler, the libuv pool), so it overstates what the
 * event loop did.
 *
 * The first field of /proc/self/task/<tid>/schedstat is the thread's on-CPU time in ns (the main
 * thread's tid is the pid). The kernel brings it up to date only at a scheduler tick or a context
 * switch, so read right after work it lags by up to a tick (steps of 0-4 ms measured here, HZ 250).
 * getrusage(RUSAGE_SELF), i.e. process.cpuUsage(), first brings the calling thread's figure up to
 * date (thread_group_cputime), so one call just before the read gives a current figure: 0.5 ms of
 * busy work read as 0.51 ms (p50; p99 +0.1 ms) in 12 µs a read. A short Atomics.wait (a forced
 * context switch) also works, but worse and slower here: a 1 µs wait returned without sleeping in
 * 18-36% of reads (stale again), a 10 µs one read +0.04 ms (p50; p99 +0.1-0.3 ms) and took ~100 µs of
 * wall time (the kernel's 50 µs timer slack).
 */
import { openSync, readSync } from 'node:fs'

/** The schedstat file, opened once; -1 where it cannot be. */
let fd: number | undefined
const buf = Buffer.alloc(128)

/** The main thread's CPU time so far, in ns (NaN where /proc has no schedstat). */
export function mainThreadCpuNs(): number {
  if (fd === undefined) {
    try {
      fd = openSync(`/proc/self/task/${process.pid}/schedstat`, 'r')
    } catch {
      fd = -1
    }
  }
  if (fd < 0) return Number.NaN
  process.cpuUsage() // brings this thread's schedstat up to date (see above)
  const n = readSync(fd, buf, 0, buf.length, 0)
  return Number(buf.toString('latin1', 0, buf.subarray(0, n).indexOf(32)))
}
