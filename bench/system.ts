/**
 * System-wide counters that tell whether a measurement was disturbed (Linux only): loopback packet
 * drops and TCP retransmissions (a drop on loopback is resent after a tail-loss probe or an RTO of
 * 200 ms or more, i.e. latency tails that have nothing to do with the server under test), and the
 * CPU time the machine spent on processes other than the bench's server and client (a shared
 * machine running test suites turns throughput and latency figures into noise; CPU per event holds up).
 */
import { execFileSync } from 'node:child_process'
import { readFileSync } from 'node:fs'

/** The per-process hard limit on file descriptors (the most sockets one process can hold). */
export function hardFdLimit(): number {
  try {
    const out = execFileSync('sh', ['-c', 'ulimit -Hn'], { encoding: 'utf8' }).trim()
    return out === 'unlimited' ? 1_048_576 : Number(out) || 1024
  } catch {
    return 1024
  }
}

/** True when `taskset` can pin processes to CPUs here. */
export function hasTaskset(): boolean {
  try {
    execFileSync('taskset', ['-p', String(process.pid)], { stdio: 'ignore' })
    return true
  } catch {
    return false
  }
}

export interface SystemCounters {
  /** Packets the kernel dropped because a CPU's input backlog was full (netdev_max_backlog). */
  backlogDrops: number
  retransSegs: number
  /** user + nice + system time of all processes, and all time of all CPUs, in µs. */
  busyUs: number
  totalUs: number
}

// /proc/stat counts in USER_HZ ticks, which is 100 on every Linux that matters here.
const TICK_US = 10_000

function cpuTimes(): { busyUs: number; totalUs: number } {
  const line = readFileSync('/proc/stat', 'utf8').split('\n', 1)[0] ?? ''
  const f = line.trim().split(/\s+/).slice(1).map(Number)
  const [user = 0, nice = 0, system = 0] = f
  const total = f.slice(0, 8).reduce((a, b) => a + (Number.isFinite(b) ? b : 0), 0)
  return { busyUs: (user + nice + system) * TICK_US, totalUs: total * TICK_US }
}

export function systemCounters(): SystemCounters | undefined {
  try {
    let backlogDrops = 0
    for (const line of readFileSync('/proc/net/softnet_stat', 'utf8').trim().split('\n')) {
      const dropped = line.trim().split(/\s+/)[1]
      if (dropped) backlogDrops += Number.parseInt(dropped, 16)
    }
    const tcp = readFileSync('/proc/net/snmp', 'utf8')
      .split('\n')
      .filter((l) => l.startsWith('Tcp:'))
      .map((l) => l.trim().split(/\s+/))
    const [names, values] = tcp
    const i = names?.indexOf('RetransSegs') ?? -1
    const retransSegs = i > 0 ? Number(values?.[i]) : Number.NaN
    return { backlogDrops, retransSegs: Number.isFinite(retransSegs) ? retransSegs : 0, ...cpuTimes() }
  } catch {
    return undefined
  }
}

export function systemDelta(before?: SystemCounters, after?: SystemCounters): SystemCounters | undefined {
  if (!before || !after) return undefined
  return {
    backlogDrops: after.backlogDrops - before.backlogDrops,
    retransSegs: after.retransSegs - before.retransSegs,
    busyUs: after.busyUs - before.busyUs,
    totalUs: after.totalUs - before.totalUs,
  }
}

/** The loopback input queue length limit, for the machine line. */
export function netdevMaxBacklog(): number | undefined {
  try {
    return Number(readFileSync('/proc/sys/net/core/netdev_max_backlog', 'utf8').trim()) || undefined
  } catch {
    return undefined
  }
}
