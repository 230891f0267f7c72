/**
 * The real flowcast server as a bench target: startServer() with the memory broker, one bench
 * flow, executions started over the HTTP API like any client would, subscribers on /ws.
 *
 * The bench flow is long-job-shaped (one chunk that keeps putting into the runtime stream until
 * told to finish), except that the items come from the pacer: the chunk hands its RuntimeData to
 * this file, and emit() calls `putIntoStream(data)` on it with the pacer's object unchanged, so the
 * whole engine path (contract check, append, JSON once, listeners, room flush) is measured.
 */
import http from 'node:http'
import { z } from 'zod'
import { type RuntimeData, TriggerFlow } from '../../flows/index.ts'
import { startServer } from '../../server/index.ts'
import type { EventData } from '../protocol.ts'
import { host } from './host.ts'

// pino logs every started execution at info; 1,000 of them would only cost the measurement.
process.env.LOG_LEVEL ??= 'warn'

const benchItem = z.object({ t: z.number(), p: z.string() })

/** Executions of the bench flow that are running their chunk, by execution ID. */
const writers = new Map<string, RuntimeData<unknown, EventData>>()
/** Resolves the chunk of an execution, letting it complete. */
const finishers = new Map<string, () => void>()
/** Wakes createRooms() once an execution's chunk has registered. */
const started = new Map<string, () => void>()

function benchFlow() {
  const flow = new TriggerFlow({
    name: 'bench',
    contract: { input: z.object({}).optional(), stream: benchItem, result: z.object({ ended: z.boolean() }) },
  })
  const relay = flow.chunk('relay', async (data) => {
    const id = data.executionId
    writers.set(id, data)
    await new Promise<void>((resolve) => {
      finishers.set(id, resolve)
      data.signal.addEventListener('abort', () => resolve(), { once: true })
      started.get(id)?.()
    })
    writers.delete(id)
    finishers.delete(id)
    return { ended: true }
  })
  flow.to(relay).end()
  return flow
}

const server = await startServer({
  host: '127.0.0.1',
  port: 0,
  auth: 'off',
  flows: [benchFlow()],
  limits: {
    // The bench opens 10,000 sockets from one address and runs 1,000 executions at once.
    maxConnectionsPerAddress: 1_000_000,
    maxLiveExecutions: 100_000,
  },
  // As `flowcast serve` runs.
  lightweightWebGlobals: true,
})

/**
 * POST without keep-alive (`agent: false`): fetch's pooled connections would time out and be torn
 * down, client and server side, in this process seconds later, inside the measured phase.
 */
function post(url: string, body: string): Promise<{ status: number; text: string }> {
  return new Promise((resolve, reject) => {
    const req = http.request(
      url,
      { method: 'POST', agent: false, headers: { 'content-type': 'application/json' } },
      (res) => {
        let text = ''
        res.setEncoding('utf8')
        res.on('data', (chunk: string) => {
          text += chunk
        })
        res.on('end', () => resolve({ status: res.statusCode ?? 0, text }))
        res.on('error', reject)
      },
    )
    req.on('error', reject)
    req.end(body)
  })
}

async function startOne(): Promise<string> {
  const res = await post(`${server.url}/api/flows/bench/executions`, JSON.stringify({ input: {} }))
  if (res.status !== 201) throw new Error(`start answered ${res.status}: ${res.text}`)
  const { executionId } = JSON.parse(res.text) as { executionId: string }
  if (!writers.has(executionId)) {
    await new Promise<void>((resolve, reject) => {
      const timer = setTimeout(
        () => reject(new Error(`execution ${executionId} never ran its chunk`)),
        10_000,
      )
      started.set(executionId, () => {
        clearTimeout(timer)
        resolve()
      })
      if (writers.has(executionId) && finishers.has(executionId)) started.get(executionId)!()
    })
    started.delete(executionId)
  }
  return executionId
}

const drop = (err: unknown) => {
  console.error('[bench flowcast] put failed:', err)
}

host({
  url: `${server.url.replace(/^http/, 'ws')}/ws`,
  async createRooms(count) {
    const ids: string[] = []
    // A few starts in flight at a time: many rooms means 1,000 HTTP requests.
    for (let i = 0; i < count; i += 32) {
      const batch = Math.min(32, count - i)
      ids.push(...(await Promise.all(Array.from({ length: batch }, startOne))))
    }
    return ids
  },
  emit(room: string, _seq: number, data: EventData) {
    const w = writers.get(room)
    if (!w) throw new Error(`no running execution ${room}`)
    return w.putIntoStream(data).catch(drop)
  },
  async endRooms(ids) {
    for (const id of ids) finishers.get(id)?.()
  },
  close: () => server.close(),
})
