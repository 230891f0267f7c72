/**
 * The engine's per-item cost in one process, beside what a raw server does per event: a stream
 * log's append (envelope, its JSON once, the retained window, one listener) against
 * JSON.stringify of the same envelope alone, for one log and for a thousand taking items in turn,
 * with entries that outlive many scavenges (kept for resume, as a server keeps them) and with
 * entries that die young. What it shows: the append's own work is the JSON; keeping entries
 * for resume is what costs, in the GC that copies and promotes them.
 *
 *   npx tsx bench/append.ts [--appends 100000] [--rounds 15]
 */
import { parseArgs } from 'node:util'
import { RuntimeStreamLog } from '../flows/index.ts'

const { values } = parseArgs({
  options: { appends: { type: 'string', default: '100000' }, rounds: { type: 'string', default: '15' } },
})
const APPENDS = Number(values.appends)
const ROUNDS = Number(values.rounds)
const PAD = 'x'.repeat(100)

interface Case {
  name: string
  logs: number
  /** Entries each log retains; undefined: no log at all (the JSON baseline). */
  retain: number | undefined
}

/** Median ns per append over ROUNDS rounds of APPENDS, the logs taking items in turn. */
async function measure(c: Case): Promise<number> {
  const logs: RuntimeStreamLog<{ t: number; p: string }>[] = []
  let sink = 0
  for (let i = 0; i < c.logs && c.retain !== undefined; i++) {
    const log = new RuntimeStreamLog<{ t: number; p: string }>({ maxEvents: c.retain })
    // One listener, as a server's room is: it looks at the entry and keeps nothing.
    log.listen({
      onAppend: (e) => {
        sink += e.seq
      },
    })
    logs.push(log)
  }
  const round = (): number => {
    const t0 = process.hrtime.bigint()
    if (c.retain === undefined) {
      for (let k = 0; k < APPENDS; k++) {
        sink += JSON.stringify({ seq: k, ts: Date.now(), data: { t: performance.now(), p: PAD } }).length
      }
    } else {
      for (let k = 0; k < APPENDS; k++) logs[k % c.logs]!.append({ t: performance.now(), p: PAD })
    }
    return Number(process.hrtime.bigint() - t0) / APPENDS
  }
  const out: number[] = []
  for (let r = 0; r < ROUNDS; r++) {
    out.push(round())
    // A turn of the event loop between rounds, as a server has between ticks.
    await new Promise((resolve) => setImmediate(resolve))
  }
  if (sink === -1) console.log(sink)
  out.sort((a, b) => a - b)
  return out[Math.floor(out.length / 2)]!
}

const cases: Case[] = [
  { name: 'JSON.stringify of the envelope only (baseline)', logs: 1, retain: undefined },
  { name: 'append, 1 log, 100 retained', logs: 1, retain: 100 },
  { name: 'append, 1,000 logs in turn, 2 retained each (die young)', logs: 1000, retain: 2 },
  { name: 'append, 1,000 logs in turn, 100 retained each (survive)', logs: 1000, retain: 100 },
]
const baseline = await measure(cases[0]!)
console.log(`${APPENDS} appends x ${ROUNDS} rounds, median ns per append\n`)
console.log(`${'case'.padEnd(58)} ${'ns'.padStart(6)} ${'x JSON'.padStart(7)}`)
console.log(`${cases[0]!.name.padEnd(58)} ${baseline.toFixed(0).padStart(6)} ${'1.00'.padStart(7)}`)
for (const c of cases.slice(1)) {
  const ns = await measure(c)
  console.log(`${c.name.padEnd(58)} ${ns.toFixed(0).padStart(6)} ${(ns / baseline).toFixed(2).padStart(7)}`)
}
