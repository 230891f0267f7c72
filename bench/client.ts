/**
 * The subscriber process: opens N subscribers against one target, counts what each receives,
 * checks exactness and records delivery latency. Started by run.ts with an IPC channel it takes
 * connect/collect/close requests; started by hand it runs one phase from flags and prints JSON:
 *
 *   npx tsx bench/client.ts --adapter ws --url ws://127.0.0.1:PORT/ --rooms r0 --per-room 100 \
 *     --events 1000 --timeout-ms 30000
 */
import { parseArgs } from 'node:util'
import { adapters, type Subscription } from './adapters.ts'
import { serveParent } from './ipc.ts'
import {
  type AdapterName,
  type ClientRequest,
  type CollectRequest,
  type ConnectRequest,
  type ConnectResult,
  clock,
  type ProgressMessage,
  type Tally,
} from './protocol.ts'
import { Recorder, Subscriber } from './tally.ts'

const recorder = new Recorder()
let subs: Subscriber[] = []
let conns: Subscription[] = []
let progressTimer: NodeJS.Timeout | undefined
let progressPhase = 0
let cpuAtMark = 0

const sleep = (ms: number) => new Promise<void>((resolve) => setTimeout(resolve, ms))

async function connect(req: ConnectRequest): Promise<ConnectResult> {
  close()
  recorder.reset()
  const adapter = adapters[req.adapter]
  if (!adapter) throw new Error(`unknown adapter ${req.adapter}`)
  const start = clock()
  const deadline = start + req.budgetMs
  const total = req.rooms.length * req.perRoom
  let next = 0
  let failed = 0
  let firstError: string | undefined
  // Rooms are interleaved in connect order so a budget cut leaves every room about equally served.
  const worker = async () => {
    while (next < total && clock() < deadline) {
      const i = next++
      const roomIndex = i % req.rooms.length
      const sub = new Subscriber(roomIndex)
      try {
        const conn = await adapter({
          url: req.url,
          token: req.token,
          room: req.rooms[roomIndex]!,
          timeoutMs: req.timeoutMs,
          sink: (seq, t, now) => recorder.record(sub, seq, t, now),
          onDrop: () => {
            sub.dropped = true
          },
        })
        subs.push(sub)
        conns.push(conn)
      } catch (err) {
        failed++
        firstError ??= err instanceof Error ? err.message : String(err)
      }
    }
  }
  await Promise.all(Array.from({ length: Math.max(1, Math.min(req.concurrency, total)) }, worker))
  failed += total - next
  const joinedAt = clock()
  const unsettled = await settle(req.settleTimeoutMs)
  const settleMs = clock() - joinedAt
  mark(req)
  if (req.progressMs && process.send) {
    let last = -1
    progressTimer = setInterval(() => {
      if (recorder.delivered === last) return
      last = recorder.delivered
      process.send!({ op: 'progress', phase: progressPhase, delivered: last } satisfies ProgressMessage)
    }, req.progressMs)
  }
  return { opened: subs.length, failed, ms: joinedAt - start, firstError, settleMs, unsettled }
}

/**
 * Waits until every subscriber's target says the join-time work for its room (with the members
 * that did open) is done, or timeoutMs; returns how many were still waiting.
 */
async function settle(timeoutMs: number): Promise<number> {
  const members = new Map<number, number>()
  for (const s of subs) members.set(s.room, (members.get(s.room) ?? 0) + 1)
  let left = conns.length
  const all = Promise.all(conns.map((c, i) => c.settled(members.get(subs[i]!.room)!).then(() => left--)))
  let timer: NodeJS.Timeout | undefined
  await Promise.race([all, new Promise((resolve) => (timer = setTimeout(resolve, timeoutMs)))])
  clearTimeout(timer)
  return left
}

/** Deliveries, latencies and client CPU count from here on; each subscriber keeps its seqs. */
function mark(req: { phase: number }): void {
  recorder.reset()
  progressPhase = req.phase
  const cpu = process.cpuUsage()
  cpuAtMark = cpu.user + cpu.system
}

async function collect(req: CollectRequest): Promise<Tally> {
  const deadline = clock() + req.timeoutMs
  const done = () =>
    subs.every((s) => s.dropped || s.seenUpTo(req.expected[s.room] ?? 0) >= (req.expected[s.room] ?? 0))
  let complete = done()
  while (!complete && clock() < deadline) {
    await sleep(5)
    complete = done()
  }
  // A short grace so a repeat or a stray extra frame right behind the last event is still counted.
  await sleep(20)
  const cpu = process.cpuUsage()
  return recorder.tally(subs, req.expected, complete, cpu.user + cpu.system - cpuAtMark)
}

function close(): void {
  if (progressTimer) clearInterval(progressTimer)
  progressTimer = undefined
  for (const c of conns) c.close()
  conns = []
  subs = []
}

async function handle(req: ClientRequest): Promise<unknown> {
  switch (req.op) {
    case 'connect':
      return connect(req)
    case 'collect':
      return collect(req)
    case 'mark':
      mark(req)
      return null
    case 'close':
      close()
      return null
  }
}

async function cli(): Promise<void> {
  const { values } = parseArgs({
    options: {
      adapter: { type: 'string', default: 'ws' },
      url: { type: 'string' },
      token: { type: 'string' },
      rooms: { type: 'string', default: 'r0' },
      'per-room': { type: 'string', default: '10' },
      events: { type: 'string', default: '100' },
      'timeout-ms': { type: 'string', default: '30000' },
    },
  })
  if (!values.url) throw new Error('--url is required')
  const rooms = values.rooms.split(',')
  const timeoutMs = Number(values['timeout-ms'])
  const connected = await connect({
    op: 'connect',
    phase: 0,
    adapter: values.adapter as AdapterName,
    url: values.url,
    token: values.token,
    rooms,
    perRoom: Number(values['per-room']),
    concurrency: 64,
    timeoutMs: 10_000,
    budgetMs: timeoutMs,
    settleTimeoutMs: 10_000,
  })
  process.stderr.write(`connected ${JSON.stringify(connected)}; waiting for events\n`)
  const tally = await collect({ op: 'collect', expected: rooms.map(() => Number(values.events)), timeoutMs })
  close()
  process.stdout.write(`${JSON.stringify({ connected, tally })}\n`)
  process.exit(tally.lost + tally.repeated + tally.reordered + tally.extra === 0 && tally.complete ? 0 : 1)
}

if (process.send) {
  serveParent(handle, () => {}, 60 * 60_000, close)
} else {
  await cli()
}
