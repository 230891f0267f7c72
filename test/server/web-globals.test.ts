/**
 * The process's web globals: startServer leaves `Request` and `Response` as they are unless asked
 * (it may run inside someone else's process); with `lightweightWebGlobals` the adapter's own
 * classes replace them and every kind of JSON answer still arrives whole. `flowcast serve` turns
 * it on (test/cli/serve.test.ts).
 */
import { afterAll, describe, expect, it } from 'vitest'
import { startServer } from '../../server/index.ts'
import { testFlows } from './fixtures.ts'

const native = { Request: globalThis.Request, Response: globalThis.Response }
afterAll(() => {
  // The replacement lasts for the process: put the natives back for whatever runs here next.
  for (const [name, value] of Object.entries(native))
    Object.defineProperty(globalThis, name, { value, writable: true, configurable: true })
})

async function json(url: string, init?: RequestInit) {
  const res = await fetch(url, init)
  return { status: res.status, type: res.headers.get('content-type'), body: await res.json() }
}

describe('web globals', () => {
  it('startServer keeps the native Request and Response by default, also after serving requests', async () => {
    const server = await startServer({ port: 0, auth: 'off', flows: testFlows() })
    try {
      expect((await json(`${server.url}/api/flows`)).status).toBe(200)
      expect(globalThis.Request).toBe(native.Request)
      expect(globalThis.Response).toBe(native.Response)
    } finally {
      await server.close()
    }
  })

  it('lightweightWebGlobals replaces them; starts, results, errors and CORS answer as JSON as before', async () => {
    const server = await startServer({
      port: 0,
      auth: 'off',
      flows: testFlows(),
      lightweightWebGlobals: true,
    })
    try {
      expect(globalThis.Response).not.toBe(native.Response)
      expect(globalThis.Request).not.toBe(native.Request)
      const started = await json(`${server.url}/api/flows/ticker/executions`, {
        method: 'POST',
        headers: { 'content-type': 'application/json', origin: 'https://app.example' },
        body: JSON.stringify({ input: { count: 3 } }),
      })
      expect(started).toMatchObject({ status: 201, type: 'application/json' })
      const id = started.body.executionId as string
      const result = await json(`${server.url}/api/executions/${id}/result?wait=10000`)
      expect(result).toMatchObject({ status: 200, body: { status: 'completed' } })
      const missing = await json(`${server.url}/api/executions/nope/result`)
      expect(missing).toMatchObject({ status: 404, body: { error: { code: 'not_found' } } })
      const cors = await fetch(`${server.url}/api/flows`, { headers: { origin: 'https://app.example' } })
      expect(cors.headers.get('access-control-allow-origin')).toBe('*')
      expect((await cors.json()).flows.length).toBeGreaterThan(0)
    } finally {
      await server.close()
    }
  })
})
