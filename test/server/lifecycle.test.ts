/** Shutdown: close() and SIGTERM stop accepting, close sockets with 1001/1012 and finish promptly. */
import { type ChildProcess, spawn } from 'node:child_process'
import http from 'node:http'
import { createRequire } from 'node:module'
import net from 'node:net'
import { afterEach, describe, expect, it, vi } from 'vitest'
import { readSse } from '../helpers/sse-client.ts'
import { waitFor } from '../helpers/wait.ts'
import { TestSocket } from '../helpers/ws-client.ts'
import { Gate, getJson, serve, start } from './fixtures.ts'

const children: ChildProcess[] = []
afterEach(() => {
  for (const c of children.splice(0)) if (c.exitCode === null && c.signalCode === null) c.kill('SIGKILL')
})

describe('shutdown', () => {
  it('close(): sockets get 1001, SSE responses and long-polls end, nothing new is accepted', async () => {
    const gate = new Gate()
    const server = await serve({ gate })
    const { executionId } = await start(server, 'gated', { before: 2 })
    const a = await TestSocket.open(server.url)
    const b = await TestSocket.open(server.url)
    await a.subscribe(executionId)
    const sse = await readSse(`${server.url}/api/executions/${executionId}/stream`)
    const poll = getJson(`${server.url}/api/executions/${executionId}/result?wait=30000`).catch(() => 'cut')
    const t0 = Date.now()
    await waitFor(server.close(), 3000, 'close()')
    expect(Date.now() - t0).toBeLessThan(2000)
    expect(await a.closed).toBe(1001)
    expect(await b.closed).toBe(1001)
    await waitFor(sse.done, 2000, 'SSE end')
    await waitFor(poll, 2000, 'long-poll end')
    await expect(fetch(`${server.url}/healthz`)).rejects.toThrow()
    const late = new TestSocket(`${server.url.replace('http', 'ws')}/ws`)
    expect(await waitFor(late.closed, 2000, 'refused socket')).toBe(1006)
    gate.open()
  })

  it('close() ends connections that never carried a request at once, also after hundreds closed unused', async () => {
    const server = await serve()
    const connect = () =>
      new Promise<net.Socket>((resolve, reject) => {
        const c = net.connect(server.port, '127.0.0.1', () => resolve(c))
        c.once('error', reject)
      })
    const closed = (c: net.Socket) => new Promise<void>((resolve) => c.once('close', () => resolve()))
    const first = await connect()
    // More than the server keeps before it sweeps out those that closed unused.
    for (let i = 0; i < 300; i++) {
      const c = await connect()
      c.destroy()
      await closed(c)
    }
    const last = await connect()
    const ends = Promise.all([closed(first), closed(last)])
    // Watched, not replaced: the 1 s fallback that would end them if close() had not.
    const fallback = vi.spyOn(http.Server.prototype, 'closeAllConnections')
    try {
      await waitFor(server.close(), 3000, 'close()')
      await waitFor(ends, 1000, 'both unused connections closed')
      // Not by the fallback: close() itself ended them.
      expect(fallback).not.toHaveBeenCalled()
    } finally {
      fallback.mockRestore()
    }
  })

  it('close({ code: 1012 }) says restarting', async () => {
    const server = await serve()
    const s = await TestSocket.open(server.url)
    await server.close({ code: 1012 })
    expect(await s.closed).toBe(1012)
  })

  const API_KEY = 'lifecycle-test-api-key-0123456789'

  it('SIGTERM: the npm start server closes sockets with 1001 and exits 0 promptly', async () => {
    // tsx's loader in this very node, so the signal reaches the server process itself.
    const tsx = createRequire(import.meta.url).resolve('tsx')
    const child = spawn(process.execPath, ['--import', tsx, 'server/main.ts'], {
      env: { ...process.env, PORT: '0', HOST: '127.0.0.1', FLOWCAST_API_KEY: API_KEY },
      stdio: ['ignore', 'pipe', 'pipe'],
    })
    children.push(child)
    let out = ''
    child.stdout!.on('data', (d) => {
      out += d
    })
    child.stderr!.on('data', (d) => {
      out += d
    })
    const exited = new Promise<number | null>((resolve) => child.once('exit', (code) => resolve(code)))
    const url = await waitFor(
      new Promise<string>((resolve, reject) => {
        const check = () => {
          const m = /"url":"(http:\/\/[^"]+)"/.exec(out)
          if (m) resolve(m[1]!)
        }
        child.stdout!.on('data', check)
        child.once('exit', () => reject(new Error(`server exited early: ${out}`)))
      }),
      15_000,
      'the printed URL',
    )
    // `npm start` has auth on: the API key starts, the viewer token watches.
    const started = (await (
      await fetch(`${url}/api/flows/stream-steps/executions`, {
        method: 'POST',
        body: '{}',
        headers: { authorization: `Bearer ${API_KEY}` },
      })
    ).json()) as { executionId: string; tokens: { viewer: string } }
    expect(typeof started.executionId).toBe('string')
    const s = new TestSocket(`${url.replace(/^http/, 'ws')}/ws?token=${started.tokens.viewer}`)
    await s.next((f) => f.type === 'hello')
    const t0 = Date.now()
    child.kill('SIGTERM')
    expect(await waitFor(s.closed, 5000, 'socket close')).toBe(1001)
    expect(await waitFor(exited, 5000, 'process exit')).toBe(0)
    expect(Date.now() - t0).toBeLessThan(5000)
    expect(out).toContain('SIGTERM')
  })
})
