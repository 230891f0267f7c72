/**
 * What a bench target implements, and the process around it. A target file (raw-ws.ts,
 * socketio.ts, later flowcast.ts) starts its server on 127.0.0.1, wraps it in a BenchServer and
 * calls host(); the host answers the orchestrator over IPC, runs the shared pacer, and reports
 * the process's CPU and memory, so every target is driven and measured the same way.
 */

import { PerformanceObserver } from 'node:perf_hooks'
import { serveParent } from '../ipc.ts'
import { mainThreadCpuNs } from '../main-thread-cpu.ts'
import type { EventData, HostRequest, ProgressMessage, ServerStats } from '../protocol.ts'
import { runPlan } from './pacer.ts'
import { toggleProfile } from './window-profile.ts'

export interface BenchServer {
  /** Where subscribers connect; the target's client adapter knows the framing behind it. */
  url: string
  /** Sent to the client adapter with the url, for targets that need a credential. */
  token?: string
  /** Creates `count` fresh rooms (flowcast: executions) whose streams start at seq 1. */
  createRooms(count: number): Promise<string[]>
  /**
   * Puts one event into a room. Called synchronously by the pacer, in seq order per room, with
   * data stamped at the moment of the call; a returned promise is not awaited.
   */
  emit(room: string, seq: number, data: EventData): unknown
  /** Ends the rooms (flowcast: lets the executions finish so subscribers get stream_end). */
  endRooms?(rooms: string[]): Promise<void>
  close(): Promise<void>
}

const MAX_LIFETIME_MS = 60 * 60_000

export function host(server: BenchServer): void {
  let reportedPhase = -1
  let reported = 0
  let wake: (() => void) | undefined
  const progress = {
    delivered: (phase: number) => (phase === reportedPhase ? reported : 0),
    next: (ms: number) =>
      new Promise<void>((resolve) => {
        const timer = setTimeout(done, ms)
        function done() {
          clearTimeout(timer)
          if (wake === done) wake = undefined
          resolve()
        }
        wake = done
      }),
  }

  const handle = async (req: HostRequest): Promise<unknown> => {
    switch (req.op) {
      case 'rooms':
        return server.createRooms(req.count)
      case 'run': {
        let gcMaxMs = 0
        const gcs = new PerformanceObserver((list) => {
          for (const e of list.getEntries()) gcMaxMs = Math.max(gcMaxMs, e.duration)
        })
        gcs.observe({ entryTypes: ['gc'] })
        try {
          const run = await runPlan(req.plan, (room, seq, data) => server.emit(room, seq, data), progress)
          return { ...run, gcMaxMs }
        } finally {
          gcs.disconnect()
        }
      }
      case 'stats': {
        const out = await stats(req.gc === true)
        // BENCH_PROFILE_DIR: the two plain readings are the ones around the measured phase, drain
        // included (idle readings ask for gc).
        if (req.gc !== true) toggleProfile()
        return out
      }
      case 'end':
        await server.endRooms?.(req.rooms)
        return null
      default:
        throw new Error(`unknown op ${(req as { op: string }).op}`)
    }
  }

  const onProgress = (msg: ProgressMessage) => {
    if (msg?.op !== 'progress') return
    if (msg.phase !== reportedPhase) {
      reportedPhase = msg.phase
      reported = 0
    }
    reported = Math.max(reported, msg.delivered)
    wake?.()
  }

  serveParent(handle, onProgress, MAX_LIFETIME_MS, () => server.close())
  process.send!({ op: 'ready', url: server.url, token: server.token })
}

async function stats(gc: boolean): Promise<ServerStats> {
  const collect = (globalThis as { gc?: () => void }).gc
  if (gc && collect) {
    // Twice, with a turn between, so finalizers and weak callbacks of the first pass are swept too.
    collect()
    await new Promise((r) => setImmediate(r))
    collect()
  }
  const mainCpuUs = mainThreadCpuNs() / 1000
  const cpu = process.cpuUsage()
  const mem = process.memoryUsage()
  return { cpuUs: cpu.user + cpu.system, mainCpuUs, rss: mem.rss, heapUsed: mem.heapUsed }
}
