/**
 * Executions that outlive their node (issue 16): three `flowcast serve` processes on one Redis.
 * kill -9 of the node running a long job mid-stream: another node claims it from its checkpoint,
 * the step runs again (attempt 2), and every watcher (SDK failing over from the dead node, SDK on
 * a survivor, raw WebSocket, SSE) ends with exactly 1..k of the first attempt then the re-run's
 * items as k+1..k+N, marked `attempt: 2`, and the result is `completed`. kill -9 of the node
 * holding a waiting approval: `continue` on another node completes it. Each test prints the time
 * from the kill to the execution going on elsewhere. The long job is `held` (flows/held.ts): its
 * first attempt puts a few items and then waits for its node to die, so the kill never races it.
 */
import { fileURLToPath } from 'node:url'
import { expect, it } from 'vitest'
import { eventually } from '../helpers/poll.ts'
import { readSse, type SseRead, sseSeqs } from '../helpers/sse-client.ts'
import { until } from '../helpers/wait.ts'
import { TestSocket } from '../helpers/ws-client.ts'
import { describeRedis, type NodeProcess, range, startExecution, useCluster } from './env.ts'
import { watch } from './watch.ts'

const LEASE_MS = 1000
const cluster = useCluster(3, {
  FLOWCAST_LEASE_MS: String(LEASE_MS),
  FLOWCAST_EXTRA_FLOWS: fileURLToPath(new URL('./flows/held.ts', import.meta.url)),
})

const bearer = (token: string) => ({ authorization: `Bearer ${token}` })

async function json(url: string, token: string, init: RequestInit = {}): Promise<any> {
  const res = await fetch(url, { ...init, headers: { ...bearer(token), 'content-type': 'application/json' } })
  return { status: res.status, body: await res.json() }
}

describeRedis('redis: executions outlive their node', () => {
  it('kill -9 mid-stream: another node resumes it; every watcher gets 1..k then the re-run as k+1..k+N (attempt 2); completed', async () => {
    const [a, b, c] = cluster.nodes as [NodeProcess, NodeProcess, NodeProcess]
    const N = 150
    const HOLD = 20
    const { executionId: id, tokens } = await startExecution(
      a.url,
      'held',
      { count: N, size: 32, intervalMs: 8, holdAfter: HOLD },
      cluster.apiKey,
    )
    const viewer = tokens!.viewer
    // One SDK client on the node that dies (it fails over to B), one on B; a raw socket on C; SSE on B.
    const failing = watch(cluster.client([a.url, b.url], viewer), id)
    const onB = watch(cluster.client([b.url], viewer), id)
    const ws = new TestSocket(`${c.url.replace(/^http/, 'ws')}/ws?token=${viewer}`)
    await ws.next((f) => f.type === 'hello')
    await ws.subscribe(id)
    const sse: SseRead = await readSse(`${b.url}/api/executions/${id}/stream`, bearer(viewer))
    try {
      // The first attempt's HOLD items, all it puts: A runs it until killed.
      await until(
        () => onB.events.length >= HOLD && failing.events.length >= HOLD,
        10_000,
        "the first attempt's items",
      )
      a.child.kill('SIGKILL')
      await a.exited
      const killedAt = Date.now()
      await until(() => onB.events.some((e) => e.attempt === 2), 15_000, 'the re-run on another node')
      const resumedAfter = Date.now() - killedAt
      await until(() => onB.end !== null && failing.end !== null, 20_000, 'stream_end')
      await ws.streamEnd(id, 20_000)
      await sse.done

      const k = onB.events.findIndex((e) => e.attempt === 2)
      const lastSeq = k + N
      for (const w of [onB, failing]) {
        expect(w.seqs()).toEqual(range(1, lastSeq))
        expect(w.gaps).toEqual([])
        expect(w.end).toEqual({ reason: 'completed', lastSeq })
        expect(w.statuses.at(-1)).toBe('completed')
        // The first attempt's items, then the re-run's from n = 1, marked with the attempt.
        expect(w.events.map((e) => (e.data as { n: number }).n)).toEqual([...range(1, k), ...range(1, N)])
        expect(w.events.map((e) => e.attempt ?? 1)).toEqual([...Array(k).fill(1), ...Array(N).fill(2)])
      }
      expect(ws.seqs(id)).toEqual(range(1, lastSeq))
      expect(sseSeqs(sse.messages)).toEqual(range(1, lastSeq))
      const result = await json(`${c.url}/api/executions/${id}/result`, viewer)
      expect(result).toEqual({ status: 200, body: { status: 'completed', result: { put: N, accepted: N } } })
      console.log(
        `[outlive] held long job ${id}: kill -> first re-run item on B's watcher ${resumedAfter} ms (lease ${LEASE_MS} ms)`,
      )
    } finally {
      sse.abort()
      await ws.close()
    }
  })

  it('kill -9 of the node holding a waiting approval: continue on another node completes it', async () => {
    const [a, b, c] = cluster.nodes as [NodeProcess, NodeProcess, NodeProcess]
    const { executionId: id, tokens } = await startExecution(
      a.url,
      'approval',
      { request: 'ship it', amount: 3 },
      cluster.apiKey,
    )
    const admin = tokens!.admin
    const meta = `${cluster.prefix}x:${id}:meta`
    await eventually(async () => (await cluster.redis.hget(meta, 'status')) === 'waiting', 10_000, 'waiting')
    const w = watch(cluster.client([b.url], tokens!.viewer), id)
    await until(() => w.events.length >= 2, 10_000, 'the request and pause items')
    a.child.kill('SIGKILL')
    await a.exited
    const killedAt = Date.now()
    await eventually(
      async () => (await cluster.redis.hget(meta, 'node')) === '',
      15_000,
      'parked without a node',
    )
    const parkedAfter = Date.now() - killedAt
    const info = await json(`${c.url}/api/executions/${id}`, admin)
    expect(info.body).toMatchObject({ status: 'waiting', nodeless: true })
    const interruptId = info.body.pendingInterrupts[0].id as string
    const at = Date.now()
    const answered = await json(`${c.url}/api/executions/${id}/interrupts/${interruptId}/continue`, admin, {
      method: 'POST',
      body: JSON.stringify({ value: { approved: true, note: 'ok' } }),
    })
    expect(answered.status).toBeLessThan(300)
    const result = await json(`${b.url}/api/executions/${id}/result?wait=10000`, admin)
    const continuedIn = Date.now() - at
    expect(result).toEqual({
      status: 200,
      body: {
        status: 'completed',
        result: { request: 'ship it', approved: true, note: 'ok', status: 'approved' },
      },
    })
    await until(() => w.end !== null, 10_000, 'stream_end')
    expect(w.seqs()).toEqual(range(1, w.end!.lastSeq))
    expect(w.events.at(-1)!.data).toEqual({ type: 'decision', approved: true, note: 'ok' })
    console.log(
      `[outlive] approval ${id}: kill -> parked ${parkedAfter} ms; continue on C -> completed ${continuedIn} ms`,
    )
  })

  it('two nodes race to claim eight executions of a killed node: each is claimed once, its step re-run once', async () => {
    const [a, b, c] = cluster.nodes as [NodeProcess, NodeProcess, NodeProcess]
    const claims: Record<string, string[]> = {}
    for (const [name, node] of [
      ['B', b],
      ['C', c],
    ] as const) {
      node.child.stdout!.on('data', (chunk: Buffer) => {
        for (const line of chunk.toString().split('\n')) {
          if (!line.includes('execution claimed')) continue
          const id = (JSON.parse(line) as { executionId: string }).executionId
          claims[id] = [...(claims[id] ?? []), name]
        }
      })
    }
    const N = 60
    const HOLD = 5
    const started = await Promise.all(
      Array.from({ length: 8 }, () =>
        startExecution(
          a.url,
          'held',
          { count: N, size: 16, intervalMs: 25, holdAfter: HOLD },
          cluster.apiKey,
        ),
      ),
    )
    const log = (id: string) => `${cluster.prefix}x:${id}:log`
    const eventsIn = async (id: string) =>
      (await cluster.redis.xrange(log(id), '-', '+')).filter(([, f]) => f[0] === 'e').length
    await eventually(
      async () => (await Promise.all(started.map((s) => eventsIn(s.executionId)))).every((n) => n >= HOLD),
      10_000,
      "the first attempt's items of each in Redis",
    )
    a.child.kill('SIGKILL')
    await a.exited
    const killedAt = Date.now()
    for (const { executionId: id, tokens } of started) {
      const res = await json(`${b.url}/api/executions/${id}/result?wait=20000`, tokens!.viewer)
      expect(res).toEqual({ status: 200, body: { status: 'completed', result: { put: N, accepted: N } } })
    }
    const doneAfter = Date.now() - killedAt
    for (const { executionId: id } of started) {
      const entries = await cluster.redis.xrange(log(id), '-', '+')
      const events = entries.filter(([, f]) => f[0] === 'e').map(([, f]) => JSON.parse(f[1]!))
      // The re-run once: N items of attempt 2, none of a third attempt, seqs without a hole.
      expect(events.filter((e) => e.attempt === 2)).toHaveLength(N)
      expect(events.every((e) => (e.attempt ?? 1) <= 2)).toBe(true)
      expect(events.map((e) => e.seq)).toEqual(range(1, events.length))
    }
    await eventually(async () => Object.keys(claims).length === 8, 5000, 'the claim log lines')
    for (const { executionId: id } of started) expect(claims[id]).toHaveLength(1)
    const byNode = Object.values(claims).flat()
    console.log(
      `[outlive] race: 8 executions, claims B=${byNode.filter((n) => n === 'B').length} C=${byNode.filter((n) => n === 'C').length}, each once; kill -> all 8 completed ${doneAfter} ms`,
    )
  })
})
