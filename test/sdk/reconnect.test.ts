/**
 * Lossless resume for real: a TCP proxy between the clients and the server cuts every client's
 * connection every ~200 ms during a 2000-event stream; every client must still see 1..2000 once each.
 */
import { afterEach, describe, expect, it } from 'vitest'
import type { GapInfo } from '../../client-sdk/index.ts'
import { useCleanup } from '../helpers/cleanup.ts'
import { createProxy } from '../helpers/tcp-proxy.ts'
import { until } from '../helpers/wait.ts'
import { nodeClient, range, startTestServer, type testLongJob } from './fixtures.ts'

const own = useCleanup()

type LongJob = ReturnType<typeof testLongJob>

let cutter: ReturnType<typeof setInterval> | undefined

afterEach(() => {
  if (cutter) clearInterval(cutter)
  cutter = undefined
})

describe('client SDK over a connection cut every 200 ms', () => {
  it('every client ends with seq 1..2000 exactly once, in order', async () => {
    const COUNT = 2000
    const CLIENTS = Number(process.env.SDK_CUT_CLIENTS ?? 20)
    const server = own(await startTestServer())
    const proxy = own(await createProxy(server.port))
    const viaProxy = `http://127.0.0.1:${proxy.port}`
    const starter = own(nodeClient(server.url))
    const { executionId } = await starter.start<LongJob>('long-job', {
      count: COUNT,
      size: 64,
      intervalMs: 2,
    })

    const watchers = range(1, CLIENTS).map(() => {
      const client = own(nodeClient(viaProxy))
      const w = {
        seqs: [] as number[],
        items: [] as number[],
        gaps: [] as GapInfo[],
        errors: [] as string[],
        reconnects: 0,
        end: null as string | null,
      }
      client.onConnectionState((s) => {
        if (s === 'reconnecting') w.reconnects++
      })
      client.subscribe<LongJob>(executionId, {
        onEvent: (ev) => {
          w.seqs.push(ev.seq)
          w.items.push(ev.data.n)
        },
        onGap: (g) => w.gaps.push(g),
        onError: (err) => w.errors.push(err.code),
        onEnd: (info) => {
          w.end = info.reason
        },
      })
      return w
    })

    let cuts = 0
    cutter = setInterval(() => {
      cuts++
      // Alternate a FIN and an RST: clients see both a clean and an abortive end of TCP.
      proxy!.cutAll({ reset: cuts % 2 === 0 })
    }, 200)
    await until(() => watchers.every((w) => w.end !== null), 60_000, 'every client to reach stream_end')
    clearInterval(cutter)

    expect(cuts).toBeGreaterThanOrEqual(10)
    for (const w of watchers) {
      expect(w.seqs).toEqual(range(1, COUNT))
      expect(w.items).toEqual(range(1, COUNT))
      expect(w.gaps).toEqual([])
      expect(w.end).toBe('completed')
      // Cut or not, the application never saw an error: resumes are invisible.
      expect(w.errors).toEqual([])
      expect(w.reconnects).toBeGreaterThanOrEqual(5)
    }
    // The test's own bound must cover the 60 s wait above: on a loaded machine the run takes 25-30 s.
  }, 90_000)
})
