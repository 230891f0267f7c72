/**
 * Three nodes as separate processes on one Redis: identical sequences on B and C for an
 * execution running on A, a stop sent to C that ends the stream everywhere, the result from B,
 * and kill -9 of the node an SDK client is on (it resumes on another with nothing lost or repeated).
 * Auth is on with one secret for all nodes: tokens minted by A are accepted by B and C.
 */
import { expect, it } from 'vitest'
import { until } from '../helpers/wait.ts'
import { describeRedis, type NodeProcess, range, startExecution, useCluster } from './env.ts'
import { watch } from './watch.ts'

const cluster = useCluster(3)

describeRedis('redis: three nodes, one Redis', () => {
  it('B and C receive the identical sequence 1..N of an execution running on A; the result is read from B', async () => {
    const [a, b, c] = cluster.nodes as [NodeProcess, NodeProcess, NodeProcess]
    const N = 400
    const { executionId: id, tokens } = await startExecution(
      a.url,
      'long-job',
      { count: N, size: 48, intervalMs: 2, burst: 3 },
      cluster.apiKey,
    )
    const onB = watch(cluster.client([b.url], tokens!.viewer), id)
    const onC = watch(cluster.client([c.url], tokens!.viewer), id)
    await until(() => onB.end !== null && onC.end !== null, 20_000, 'stream_end on B and C')
    expect(onB.seqs()).toEqual(range(1, N))
    expect(onC.seqs()).toEqual(range(1, N))
    expect(JSON.stringify(onB.events)).toBe(JSON.stringify(onC.events))
    expect(onB.events.map((e) => (e.data as { n: number }).n)).toEqual(range(1, N))
    for (const w of [onB, onC]) {
      expect(w.end).toEqual({ reason: 'completed', lastSeq: N })
      expect(w.gaps).toEqual([])
      expect(w.errors).toEqual([])
      expect(w.statuses.at(-1)).toBe('completed')
    }
    const viaB = cluster.client([b.url], tokens!.viewer)
    expect(await viaB.result(id, { wait: 10_000 })).toEqual({
      status: 'completed',
      result: { put: N, accepted: N },
    })
  })

  it('a stop sent to C ends the stream on A, B and C while the execution keeps running on A', async () => {
    const [a, b, c] = cluster.nodes as [NodeProcess, NodeProcess, NodeProcess]
    const { executionId: id, tokens } = await startExecution(
      a.url,
      'long-job',
      { count: 300, size: 32, intervalMs: 5 },
      cluster.apiKey,
    )
    const watchers = [a, b, c].map((n) => watch(cluster.client([n.url], tokens!.viewer), id))
    await until(() => watchers.every((w) => w.events.length >= 20), 10_000, 'first events everywhere')
    const admin = cluster.client([c.url], tokens!.admin)
    expect(await admin.stopStream(id)).toEqual({ stopped: true })
    await until(() => watchers.every((w) => w.end !== null), 10_000, 'stream_end everywhere')
    const lastSeq = watchers[0]!.end!.lastSeq
    expect(lastSeq).toBeLessThan(300)
    for (const w of watchers) {
      expect(w.end).toEqual({ reason: 'stopped', by: 'admin', lastSeq })
      expect(w.seqs()).toEqual(range(1, lastSeq))
    }
    expect(await admin.stopStream(id)).toEqual({ alreadyStopped: true })
    // The stream stopped, not the execution: it still runs on A and completes.
    const viaB = cluster.client([b.url], tokens!.viewer)
    expect(await viaB.result(id, { wait: 15_000 })).toEqual({
      status: 'completed',
      result: { put: 300, accepted: lastSeq },
    })
  })

  it('kill -9 of the node a client is on: the client resumes on another node, nothing lost, nothing repeated', async () => {
    const [a, b, c] = cluster.nodes as [NodeProcess, NodeProcess, NodeProcess]
    const N = 500
    // Runs on A, which nobody kills; the client knows only B and C, and starts on B.
    const { executionId: id, tokens } = await startExecution(
      a.url,
      'long-job',
      { count: N, size: 32, intervalMs: 4 },
      cluster.apiKey,
    )
    const sdk = cluster.client([b.url, c.url], tokens!.viewer)
    const w = watch(sdk, id)
    await until(() => w.events.length >= 50, 10_000, 'first events through B')
    b.child.kill('SIGKILL')
    await b.exited
    const atKill = w.events.length
    await until(() => w.end !== null, 20_000, 'stream_end through C')
    expect(atKill).toBeLessThan(N)
    expect(w.seqs()).toEqual(range(1, N))
    expect(w.end).toEqual({ reason: 'completed', lastSeq: N })
    expect(w.gaps).toEqual([])
    // It is C that served the rest: B is gone.
    const health = (await (await fetch(`${c.url}/healthz`)).json()) as { connections: number }
    expect(health.connections).toBeGreaterThanOrEqual(1)
  })
})
