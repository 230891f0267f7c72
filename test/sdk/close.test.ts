/** close() leaves no timer and no socket behind: a child process that closes its client exits by itself. */
import { spawn } from 'node:child_process'
import net from 'node:net'
import { fileURLToPath } from 'node:url'
import { afterEach, describe, expect, it } from 'vitest'
import type { FlowcastServer } from '../../server/index.ts'
import { waitFor } from '../helpers/wait.ts'
import { nodeClient, startTestServer } from './fixtures.ts'

const CHILD = fileURLToPath(new URL('./fixtures/close-child.ts', import.meta.url))
/** After printing `closed`, the child has this long to exit on its own. */
const EXIT_BOUND_MS = 3_000

let server: FlowcastServer | undefined
afterEach(async () => {
  await server?.close()
  server = undefined
})

/** Runs the child; resolves with its exit code and how long it lived after `closed`. */
function runChild(
  env: Record<string, string>,
): Promise<{ code: number | null; afterClosedMs: number; out: string }> {
  const child = spawn(process.execPath, ['--import', 'tsx', CHILD], {
    env: { ...process.env, ...env },
    stdio: ['ignore', 'pipe', 'pipe'],
  })
  let out = ''
  let closedAt = 0
  child.stdout.on('data', (d: Buffer) => {
    out += d.toString()
    if (!closedAt && out.includes('closed')) closedAt = Date.now()
  })
  child.stderr.on('data', (d: Buffer) => {
    out += d.toString()
  })
  const exited = new Promise<{ code: number | null; afterClosedMs: number; out: string }>((resolve) => {
    child.on('exit', (code) => resolve({ code, afterClosedMs: closedAt ? Date.now() - closedAt : -1, out }))
  })
  return waitFor(exited, 20_000, 'the child to exit').finally(() => child.kill('SIGKILL'))
}

describe('client.close()', () => {
  it('with a live subscription, a long-poll and a stream in flight, the process exits on its own', async () => {
    server = await startTestServer()
    const starter = nodeClient(server.url)
    const { executionId } = await starter.start('long-job', { count: 100_000, size: 16, intervalMs: 5 })
    starter.close()
    const run = await runChild({ FLOWCAST_URL: server.url, EXECUTION_ID: executionId, MODE: 'open' })
    expect(run.out).toContain('closed')
    expect(run.code).toBe(0)
    expect(run.afterClosedMs).toBeGreaterThanOrEqual(0)
    expect(run.afterClosedMs).toBeLessThan(EXIT_BOUND_MS)
  })

  it('while reconnecting to a server that is not there, with a queued command, the process exits on its own', async () => {
    const srv = net.createServer()
    await new Promise<void>((r) => srv.listen(0, '127.0.0.1', () => r()))
    const { port } = srv.address() as net.AddressInfo
    await new Promise<void>((r) => srv.close(() => r()))
    const run = await runChild({ FLOWCAST_URL: `http://127.0.0.1:${port}`, MODE: 'unreachable' })
    expect(run.out).toContain('closed')
    expect(run.code).toBe(0)
    expect(run.afterClosedMs).toBeLessThan(EXIT_BOUND_MS)
  })
})
