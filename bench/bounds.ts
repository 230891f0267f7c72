/**
 * Issue 14's closing figures, measured against real `flowcast serve` processes:
 *
 *   npx tsx bench/bounds.ts [--executions 2000] [--small-budget-mib 32] [--no-burst]
 *
 * 1. burst: `long-job` with {"count":4200,"size":262144,"intervalMs":4000,"burst":2100} (two bursts of
 *    2100 x 256 KiB, ~550 MB each, in one tick) watched by one WebSocket and one SSE client: the
 *    largest frame each received, and the server's peak RSS (VmHWM) over the run.
 * 2. soak: `--executions` executions of 1 MiB of stream each (8 x 128 KiB), 32 at a time, on a node
 *    with the default limits (nodeRetainedBytes 256 MiB), the same with a 512 MiB heap (as in a 1 GiB
 *    container), and one with a small budget: peak RSS, retained bytes and heap from /metrics at the end.
 *
 * Every run starts its own server process, so each VmHWM is that run's own peak. Not a test: the
 * figures go into the issue's closing note and the README.
 */
import { serveCli, stopAll } from '../test/helpers/cli.ts'
import { processRss, sizedSseWatch, sizedWsWatch, soak, startExecution } from '../test/helpers/load.ts'
import { metric } from '../test/helpers/metrics.ts'
import { waitFor } from '../test/helpers/wait.ts'

const MiB = 1024 * 1024
const BURST_INPUT = { count: 4200, size: 262144, intervalMs: 4000, burst: 2100 }
const SOAK_INPUT = { count: 8, size: 128 * 1024 }

function arg(name: string, fallback: number): number {
  const at = process.argv.indexOf(`--${name}`)
  return at >= 0 ? Number(process.argv[at + 1]) : fallback
}

const mib = (bytes: number) => `${(bytes / MiB).toFixed(1)} MiB`

/** A node with the default limits (auth off: the figures are about memory, not tokens). */
function node(env: Record<string, string> = {}) {
  // NODE_OPTIONS of this shell reach the server as they would in a deployment (its heap size, say).
  return serveCli([], { FLOWCAST_AUTH: 'off', FLOWCAST_LOG_LEVEL: 'info', ...env })
}

async function burst(): Promise<void> {
  const cli = await node()
  const pid = cli.child.pid!
  const started = Date.now()
  const id = await startExecution(cli.url, 'long-job', BURST_INPUT)
  const [ws, sse] = await Promise.all([sizedWsWatch(cli.url, id, 120_000), sizedSseWatch(cli.url, id)])
  await waitFor(Promise.all([ws.ended, sse.ended]), 300_000, 'both watchers to see stream_end')
  const result = await (await fetch(`${cli.url}/api/executions/${id}/result?wait=10000`)).json()
  const { peak } = processRss(pid)
  const retained = await metric(cli.url, 'flowcast_retained_bytes')
  console.log(
    `\n## burst: long-job ${JSON.stringify(BURST_INPUT)}, default limits (${((Date.now() - started) / 1000).toFixed(1)} s)`,
  )
  console.log('| watcher | largest frame | messages | bytes received | gaps |')
  console.log('| --- | --- | --- | --- | --- |')
  for (const [name, w] of [
    ['WebSocket', ws],
    ['SSE', sse],
  ] as const)
    console.log(
      `| ${name} | ${w.largest} B (${mib(w.largest)}) | ${w.messages} | ${mib(w.bytes)} | ${w.gaps} |`,
    )
  console.log(
    `server: peak RSS (VmHWM) ${mib(peak)}, retained after ${mib(retained)}, process alive: ${cli.child.exitCode === null}`,
  )
  console.log(`result: ${JSON.stringify(result)}`)
  ws.close()
  sse.close()
  await stopAll()
}

async function soakRun(executions: number, budgetMiB?: number, heapMiB?: number): Promise<void> {
  const cli = await node({
    ...(budgetMiB ? { FLOWCAST_NODE_RETAINED_BYTES: String(budgetMiB * MiB) } : {}),
    ...(heapMiB ? { NODE_OPTIONS: `--max-old-space-size=${heapMiB}` } : {}),
  })
  const pid = cli.child.pid!
  const base = processRss(pid).rss
  const started = Date.now()
  const done = await soak({ url: cli.url, flow: 'long-job', input: SOAK_INPUT, executions, concurrency: 32 })
  const { peak } = processRss(pid)
  const retained = await metric(cli.url, 'flowcast_retained_bytes')
  const heap = await metric(cli.url, 'flowcast_heap_used_bytes')
  const budget = await metric(cli.url, 'flowcast_retained_budget_bytes')
  const seconds = ((Date.now() - started) / 1000).toFixed(1)
  const heapCap = heapMiB ? `${heapMiB} MiB` : 'default'
  console.log(
    `| ${mib(budget)} | ${heapCap} | ${done} x 1 MiB | ${seconds} s | ${mib(base)} | ${mib(peak)} | ${mib(retained)} | ${mib(heap)} |`,
  )
  await stopAll()
}

const executions = arg('executions', 2000)
const small = arg('small-budget-mib', 32)
try {
  if (!process.argv.includes('--no-burst')) await burst()
  console.log(`\n## soak: long-job ${JSON.stringify(SOAK_INPUT)}, 32 at a time`)
  console.log(
    '| nodeRetainedBytes | --max-old-space-size | executions | time | RSS at start | peak RSS (VmHWM) | retained at end | heap at end |',
  )
  console.log('| --- | --- | --- | --- | --- | --- | --- | --- |')
  await soakRun(executions)
  // A 1 GiB container: the heap sized to it, as a deployment would.
  await soakRun(executions, undefined, 512)
  await soakRun(executions, small)
} finally {
  await stopAll()
}
