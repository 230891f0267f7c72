/**
 * Graceful drain of a real `flowcast serve` process on SIGTERM: new executions answer 503
 * `draining` and `/readyz` 503 at once while `/livez` and `/healthz` stay up; a watcher keeps
 * receiving; an execution that finishes within the drain timeout completes, one that does not is
 * ended as failed `shutdown` (the watcher sees it); a second signal exits at once. Plus the log
 * lines: JSON only, one per execution start and end, with the failure's code and message.
 *
 * The `gated` flow waits for a `go` interrupt, so the test decides when it finishes: nothing races
 * a timer except the drain timeout itself, which the flow never beats (it waits for the test).
 */
import { afterEach, describe, expect, it } from 'vitest'
import { type CliProcess, serveCli, stopAll } from '../helpers/cli.ts'
import { waitFor } from '../helpers/wait.ts'
import { TestSocket } from '../helpers/ws-client.ts'

afterEach(stopAll)

const FLOWS = 'test/cli/fixtures/gated.mjs'
const API_KEY = 'drain-test-api-key-0123456789abcdef'
const SECRET = 'drain-test-secret-0123456789abcdef0123456789'
const env = (drainMs: number) => ({
  FLOWCAST_API_KEY: API_KEY,
  FLOWCAST_SECRET: SECRET,
  FLOWCAST_DRAIN_TIMEOUT_MS: String(drainMs),
})
const auth = { authorization: `Bearer ${API_KEY}`, 'content-type': 'application/json' }

/** Starts `flow`; the execution id and its viewer token. */
async function start(url: string, flow: string): Promise<{ executionId: string; viewer: string }> {
  const res = await fetch(`${url}/api/flows/${flow}/executions`, {
    method: 'POST',
    headers: auth,
    body: '{}',
  })
  expect(res.status).toBe(201)
  const body = (await res.json()) as { executionId: string; tokens: { viewer: string } }
  return { executionId: body.executionId, viewer: body.tokens.viewer }
}

/** A socket subscribed to the execution, and the id of the `go` interrupt once the flow waits for it. */
async function watch(url: string, executionId: string, token: string) {
  const socket = new TestSocket(`${url.replace(/^http/, 'ws')}/ws?token=${token}`)
  await socket.next((f) => f.type === 'hello')
  await socket.subscribe(executionId)
  const paused = () =>
    socket.items(executionId).find((i) => (i as { action?: string }).action === 'pause') as
      | { interrupt: { id: string } }
      | undefined
  await socket.next(() => paused() !== undefined, 10_000, 'the pause item')
  return { socket, interruptId: paused()!.interrupt.id }
}

/** The items the flow itself put (not the engine's interrupt items). */
function phases(socket: TestSocket, executionId: string): unknown[] {
  return socket.items(executionId).filter((i) => (i as { phase?: string }).phase !== undefined)
}

/** SIGTERM, then the node's `draining` log line. */
async function sigterm(cli: CliProcess): Promise<void> {
  cli.child.kill('SIGTERM')
  await cli.line((e) => e.msg === 'draining', 10_000, 'the draining line')
}

describe('flowcast serve: drain on SIGTERM', () => {
  it('refuses new executions, turns /readyz 503 at once, and lets a running execution finish', async () => {
    const cli = await serveCli([FLOWS], env(120_000))
    expect((await fetch(`${cli.url}/readyz`)).status).toBe(200)
    const { executionId, viewer } = await start(cli.url, 'gated')
    const { socket: watcher, interruptId } = await watch(cli.url, executionId, viewer)

    await sigterm(cli)
    const ready = await fetch(`${cli.url}/readyz`)
    expect(ready.status).toBe(503)
    expect(await ready.json()).toEqual({ ok: false, draining: true })
    expect((await fetch(`${cli.url}/livez`)).status).toBe(200)
    expect((await fetch(`${cli.url}/healthz`)).status).toBe(200)
    const refused = await fetch(`${cli.url}/api/flows/gated/executions`, {
      method: 'POST',
      headers: auth,
      body: '{}',
    })
    expect(refused.status).toBe(503)
    expect(((await refused.json()) as { error: { code: string } }).error.code).toBe('draining')

    // The watcher still receives: the answer goes in during the drain and the flow completes.
    const cont = await fetch(`${cli.url}/api/executions/${executionId}/interrupts/${interruptId}/continue`, {
      method: 'POST',
      headers: auth,
      body: JSON.stringify({ value: 'go' }),
    })
    expect(cont.status).toBe(200)
    const end = await watcher.streamEnd(executionId, 20_000)
    expect(end.reason).toBe('completed')
    expect(phases(watcher, executionId)).toEqual([{ phase: 'waiting' }, { phase: 'going' }])
    expect(await waitFor(cli.exited, 20_000, 'exit after the drain')).toBe(0)

    const finished = await cli.line((e) => e.msg === 'execution finished')
    expect(finished).toMatchObject({ executionId, flow: 'gated', status: 'completed' })
    expect(finished.durationMs).toBeGreaterThanOrEqual(0)
    expect(finished.error).toBeUndefined()
    expect(await cli.line((e) => e.msg === 'drained')).toMatchObject({ ended: 0 })
  })

  it('ends what is still running after the drain timeout as failed `shutdown`, which the watcher sees', async () => {
    const cli = await serveCli([FLOWS], env(300))
    const { executionId, viewer } = await start(cli.url, 'gated')
    const { socket: watcher } = await watch(cli.url, executionId, viewer)
    await sigterm(cli)
    const end = await watcher.streamEnd(executionId, 20_000)
    expect(end.reason).toBe('failed')
    expect(watcher.ofType('status').map((f) => f.status)).toContain('failed')
    expect(await waitFor(cli.exited, 20_000, 'exit after the drain')).toBe(0)
    const finished = await cli.line((e) => e.msg === 'execution finished')
    expect(finished).toMatchObject({
      executionId,
      flow: 'gated',
      status: 'failed',
      error: { code: 'shutdown' },
    })
    expect(finished.error.message).toMatch(/shut down before the execution finished/)
    expect(await cli.line((e) => e.msg === 'drained')).toMatchObject({ ended: 1 })
  })

  it('a second signal exits at once', async () => {
    const cli = await serveCli([FLOWS], env(120_000))
    const { executionId, viewer } = await start(cli.url, 'gated')
    await watch(cli.url, executionId, viewer)
    await sigterm(cli)
    cli.child.kill('SIGINT')
    expect(await waitFor(cli.exited, 10_000, 'exit on the second signal')).toBe(1)
    expect(await cli.line((e) => e.msg === 'second signal: exiting now')).toMatchObject({ signal: 'SIGINT' })
  })
})

describe('flowcast serve: log lines', () => {
  it('stdout is JSON lines only: one per execution start and end, a failure with its code and message, no secret', async () => {
    const cli = await serveCli([FLOWS], env(1000))
    const { executionId } = await start(cli.url, 'fails')
    const finished = await cli.line((e) => e.msg === 'execution finished' && e.executionId === executionId)
    expect(finished).toMatchObject({ flow: 'fails', status: 'failed' })
    expect(typeof finished.error.code).toBe('string')
    expect(finished.error.message).toMatch(/the fixture fails on purpose/)
    expect(finished.durationMs).toBeGreaterThanOrEqual(0)
    expect(
      await cli.line((e) => e.msg === 'execution started' && e.executionId === executionId),
    ).toMatchObject({
      flow: 'fails',
    })
    cli.child.kill('SIGTERM')
    expect(await waitFor(cli.exited, 20_000, 'exit')).toBe(0)
    const lines = cli.lines.filter((l) => l !== '')
    for (const l of lines) expect(() => JSON.parse(l), l).not.toThrow()
    expect(lines.filter((l) => l.includes(executionId) && l.includes('"execution started"'))).toHaveLength(1)
    expect(lines.filter((l) => l.includes(executionId) && l.includes('"execution finished"'))).toHaveLength(1)
    const all = lines.join('\n') + cli.stderr()
    expect(all).not.toContain(API_KEY)
    expect(all).not.toContain(SECRET)
  })
})
