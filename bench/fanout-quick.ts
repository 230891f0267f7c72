/**
 * A quick fan-out measure of the flowcast server (not a test): S WebSocket subscribers on one
 * execution that puts N events of about B bytes, one per event-loop turn or all in one burst.
 * The server runs in a child process (so its CPU time is its own); the clients, which parse
 * every frame, run here. An order of magnitude, not a benchmark.
 * Run: npx tsx bench/fanout-quick.ts [S] [N] [B]
 */
import { spawn } from 'node:child_process'
import { createRequire } from 'node:module'
import WebSocket from 'ws'
import { TriggerFlow } from '../flows/index.ts'
import { startServer } from '../server/index.ts'

const args = process.argv.slice(2).filter((a) => !a.startsWith('--'))
const S = Number(args[0] ?? 100)
const N = Number(args[1] ?? 2000)
const B = Number(args[2] ?? 100)

function producer(): TriggerFlow<any> {
  const flow = new TriggerFlow({ name: 'produce' })
  flow
    .to(
      flow.chunk('produce', async (data) => {
        const { count, size, burst } = data.input as { count: number; size: number; burst: boolean }
        const pad = 'x'.repeat(size)
        await new Promise((r) => setTimeout(r, 50)) // let every subscriber join first
        for (let i = 1; i <= count; i++) {
          await data.putIntoStream({ i, pad })
          if (!burst) await new Promise<void>((r) => setImmediate(r))
        }
        return count
      }),
    )
    .end()
  return flow
}

/** Child mode: serve the producer flow, print the URL, report CPU time on SIGTERM. */
async function serve(): Promise<void> {
  const server = await startServer({ port: 0, auth: 'off', flows: [producer()] })
  console.log(`URL ${server.url}`)
  process.on('SIGTERM', async () => {
    const cpu = process.cpuUsage()
    await server.close()
    console.log(`CPU ${(cpu.user + cpu.system) / 1000}`)
    process.exit(0)
  })
}

async function run(burst: boolean): Promise<void> {
  const tsx = createRequire(import.meta.url).resolve('tsx')
  const child = spawn(process.execPath, ['--import', tsx, 'bench/fanout-quick.ts', '--serve'], {
    stdio: ['ignore', 'pipe', 'inherit'],
  })
  let out = ''
  child.stdout!.on('data', (d) => {
    out += d
  })
  const url = await new Promise<string>((resolve) => {
    child.stdout!.on('data', () => {
      const m = /URL (\S+)/.exec(out)
      if (m) resolve(m[1]!)
    })
  })
  const wsUrl = `${url.replace('http', 'ws')}/ws`
  const clients = await Promise.all(
    Array.from(
      { length: S },
      () =>
        new Promise<WebSocket>((resolve) => {
          const ws = new WebSocket(wsUrl)
          ws.once('message', () => resolve(ws)) // hello
        }),
    ),
  )
  const res = await fetch(`${url}/api/flows/produce/executions`, {
    method: 'POST',
    body: JSON.stringify({ input: { count: N, size: B, burst } }),
  })
  const { executionId } = (await res.json()) as { executionId: string }
  let frames = 0
  let bytes = 0
  const t0 = performance.now()
  const done = clients.map(
    (ws) =>
      new Promise<number>((resolve, reject) => {
        let next = 1
        ws.on('message', (data: Buffer) => {
          frames++
          bytes += data.length
          const f = JSON.parse(data.toString())
          const items = f.type === 'event' ? [f] : f.type === 'events' ? f.items : []
          for (const it of items) {
            if (it.seq !== next) reject(new Error(`expected seq ${next}, got ${it.seq}`))
            next++
          }
          if (f.type === 'stream_end') resolve(performance.now() - t0)
        })
        ws.send(JSON.stringify({ type: 'subscribe', id: 1, executionId }))
      }),
  )
  const times = await Promise.all(done)
  const wall = Math.max(...times) - 50
  for (const ws of clients) ws.close()
  const exited = new Promise((r) => child.once('exit', r))
  child.kill('SIGTERM')
  await exited
  const serverCpu = Number(/CPU (\S+)/.exec(out)?.[1] ?? Number.NaN)
  const delivered = S * N
  console.log(
    `${burst ? 'burst' : 'one per tick'}: ${S} subscribers x ${N} events of ~${B} B, all exact: ` +
      `${wall.toFixed(0)} ms, ${Math.round(delivered / (wall / 1000)).toLocaleString()} deliveries/s, ` +
      `${frames.toLocaleString()} frames, ${(bytes / 1e6).toFixed(1)} MB; server CPU ${serverCpu.toFixed(0)} ms ` +
      `(${((serverCpu * 1000) / delivered).toFixed(2)} us per delivery, incl. startup)`,
  )
}

if (process.argv.includes('--serve')) await serve()
else {
  await run(false)
  await run(true)
}
