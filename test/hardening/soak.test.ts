/**
 * Issue 14 point 2, the soak: a thousand big executions (1 MiB of stream each) run against a
 * `flowcast serve` child process with a small node budget. Without the budget every finished one
 * would keep its log for finishedTtlMs (gigabytes); with it the process's peak RSS (VmHWM, the
 * kernel's own high-water mark) stays under twice the budget plus a stated overhead, and /metrics
 * reports retained bytes within the budget and the heap.
 */
import { afterEach, describe, expect, it } from 'vitest'
import { serveCli, stopAll } from '../helpers/cli.ts'
import { processRss, soak } from '../helpers/load.ts'
import { metric } from '../helpers/metrics.ts'

const MiB = 1024 * 1024
const BUDGET = 32 * MiB
/**
 * Twice the budget (a retained entry's JSON, plus the frames and strings of events in flight) and
 * the process's own base: Node, tsx's loader, the catalog and the garbage a collector may leave.
 * Generous on purpose; without the budget the run passes it after a few hundred executions.
 */
const OVERHEAD = 640 * MiB
const BOUND = 2 * BUDGET + OVERHEAD
const EXECUTIONS = 1000

afterEach(stopAll)

describe('soak under a node budget', () => {
  it(`${EXECUTIONS} executions of 1 MiB keep the server's peak RSS under ${BOUND / MiB} MiB`, async () => {
    const cli = await serveCli([], {
      FLOWCAST_AUTH: 'off',
      FLOWCAST_LOG_LEVEL: 'info',
      FLOWCAST_NODE_RETAINED_BYTES: String(BUDGET),
    })
    const pid = cli.child.pid!
    const base = processRss(pid).rss
    let over = false
    const done = await soak({
      url: cli.url,
      flow: 'long-job',
      input: { count: 8, size: 128 * 1024 },
      executions: EXECUTIONS,
      concurrency: 32,
      // Stop as soon as the bound is broken: without the budget this would grow to gigabytes.
      stop: () => {
        over ||= processRss(pid).peak > BOUND
        return over
      },
    })
    const { peak } = processRss(pid)
    const retained = await metric(cli.url, 'flowcast_retained_bytes')
    const heap = await metric(cli.url, 'flowcast_heap_used_bytes')
    const summary = {
      done,
      baseMiB: base / MiB,
      peakMiB: peak / MiB,
      retainedMiB: retained / MiB,
      heapMiB: heap / MiB,
    }
    expect(peak, JSON.stringify(summary)).toBeLessThan(BOUND)
    expect(done).toBe(EXECUTIONS)
    expect(retained).toBeLessThanOrEqual(BUDGET)
    expect(heap).toBeGreaterThan(0)
  }, 180_000)
})
