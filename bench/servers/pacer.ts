/**
 * Drives one emission phase identically for every target, so that the only thing that differs
 * between columns of the table is how the server fans an event out.
 */
import { clock, type EventData, eventData, type Plan, type RunResult } from '../protocol.ts'

export type Emit = (room: string, seq: number, data: EventData) => unknown

/** Deliveries the client process has confirmed in the current flood phase (fed by the host). */
export interface Progress {
  delivered(phase: number): number
  /** Resolves on the next report from the client, or after ms, whichever comes first. */
  next(ms: number): Promise<void>
}

const immediate = () => new Promise<void>((resolve) => setImmediate(resolve))
const sleep = (ms: number) => new Promise<void>((resolve) => setTimeout(resolve, ms))

export async function runPlan(plan: Plan, emit: Emit, progress: Progress): Promise<RunResult> {
  const start = clock()
  const sent = plan.rooms.map((_, r) => plan.after?.[r] ?? 0)
  if (plan.rooms.length === 0 || plan.maxEvents <= 0) return { sent, ms: 0 }
  if (plan.mode === 'flood') {
    await flood(plan, emit, progress, sent, start)
    return { sent, ms: clock() - start }
  }
  const stall = await scheduled(plan, emit, sent, start)
  return { sent, ms: clock() - start, stall }
}

const cpuMs = () => {
  const c = process.cpuUsage()
  return (c.user + c.system) / 1000
}

/**
 * As fast as the subscribers keep up: bursts of perTurn events per room, a yield to the event loop
 * between bursts (so the server can write and coalesce), and a window on deliveries the client has
 * not yet confirmed. The window is what makes this a measure of sustained throughput rather than of
 * how much loopback TCP buffers can swallow: without it the kernel queues megabytes per socket and
 * the phase ends long before the subscribers do.
 */
async function flood(
  plan: Plan,
  emit: Emit,
  progress: Progress,
  sent: number[],
  start: number,
): Promise<void> {
  const perTurn = Math.max(1, plan.perTurn ?? 20)
  const perRoom = Math.max(1, plan.subscribersPerRoom ?? 1)
  const window = Math.max(perTurn * perRoom * plan.rooms.length, plan.window ?? 100_000)
  const deadline = start + plan.durationMs
  const base = [...sent]
  let k = 0
  let owed = 0
  while (k < plan.maxEvents && clock() < deadline) {
    const n = Math.min(perTurn, plan.maxEvents - k)
    for (let i = 0; i < n; i++) {
      k++
      for (let r = 0; r < plan.rooms.length; r++) {
        const seq = base[r]! + k
        emit(plan.rooms[r]!, seq, eventData())
        sent[r] = seq
      }
    }
    owed += n * perRoom * plan.rooms.length
    await immediate()
    // Bounded by the deadline; a silent client only stalls emission until then.
    while (owed - progress.delivered(plan.phase) > window && clock() < deadline) await progress.next(5)
  }
}

/**
 * Emission on a timetable. Events get a global index g over all rooms (room g % R, its
 * floor(g / R)-th event) so many rooms are staggered rather than all due at once. Each wake emits
 * everything due; the event's timestamp is taken when it is emitted, so late timers never show up
 * as delivery latency.
 */
async function scheduled(
  plan: Plan,
  emit: Emit,
  sent: number[],
  start: number,
): Promise<{ wallMs: number; cpuMs: number }> {
  const R = plan.rooms.length
  const base = [...sent]
  const total = plan.maxEvents * R
  const deadline = start + plan.durationMs
  const due = dueTime(plan, R)
  let g = 0
  // The wait that overran its due time the most: how long the loop could not run this pacer.
  const worst = { wallMs: 0, cpuMs: 0 }
  let dueAt = start
  let cpuAtWait = cpuMs()
  while (g < total) {
    const now = clock()
    if (now - dueAt > worst.wallMs) {
      worst.wallMs = now - dueAt
      worst.cpuMs = cpuMs() - cpuAtWait
    }
    if (now >= deadline) break
    let emitted = 0
    // Bounded per wake so a schedule that fell behind still lets I/O run between batches.
    while (g < total && start + due(g) <= now && emitted < 10_000) {
      const r = g % R
      const seq = base[r]! + Math.floor(g / R) + 1
      emit(plan.rooms[r]!, seq, eventData())
      sent[r] = seq
      g++
      emitted++
    }
    if (g >= total) break
    const wait = start + due(g) - clock()
    // Behind schedule, the wait is owed from now, not from the (past) due time.
    dueAt = Math.max(start + due(g), clock())
    cpuAtWait = cpuMs()
    if (wait > 0) await sleep(Math.min(wait, deadline - clock()))
    else await immediate()
  }
  return worst
}

function dueTime(plan: Plan, R: number): (g: number) => number {
  if (plan.mode === 'paced') {
    const perMs = ((plan.rate ?? 100) * R) / 1000
    return (g) => g / perMs
  }
  const size = Math.max(1, plan.burstSize ?? 30)
  const span = plan.burstSpanMs ?? 3
  const gap = plan.burstGapMs ?? 50
  return (g) => {
    const k = Math.floor(g / R)
    const b = Math.floor(k / size)
    const i = k % size
    // Rooms' bursts are offset across the gap so many rooms do not all burst in the same ms.
    return b * gap + (i / size) * span + ((g % R) / R) * gap
  }
}
