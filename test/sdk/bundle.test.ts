/**
 * The browser bundle: built with esbuild from client-sdk/index.ts, free of Node-only code, and
 * working as it is in a real Chromium against a real server (global WebSocket and fetch).
 */
import { mkdtempSync, readFileSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import type { Browser } from 'playwright-core'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { buildClientBundle } from '../../scripts/build-client.mjs'
import { formatSize, measureClientSize, SIZE_ENTRIES } from '../../scripts/client-size.mjs'
import type { FlowcastServer } from '../../server/index.ts'
import { launchBrowser, skipBrowser } from '../e2e/browser.ts'
import { range, startTestServer } from './fixtures.ts'

// The e2e tests' rule: CI (FLOWCAST_REQUIRE_BROWSER=1) fails, not skips, when the browser is missing.
const runBrowser = !skipBrowser

const dir = mkdtempSync(join(tmpdir(), 'flowcast-bundle-'))
let built: { outFile: string; bytes: number; gzipBytes: number }
let code = ''

beforeAll(async () => {
  built = await buildClientBundle(join(dir, 'flowcast-client.js'))
  code = readFileSync(built.outFile, 'utf8')
})
afterAll(() => rmSync(dir, { recursive: true, force: true }))

describe('browser bundle', () => {
  it('is a minified ES module without Node-only code, and small', () => {
    expect(code).toMatch(/export\s*\{/)
    expect(code).not.toMatch(/\bnode:[a-z]/)
    expect(code).not.toMatch(/\brequire\(/)
    expect(code).not.toMatch(/\bprocess\.env\b/)
    expect(built.bytes).toBeLessThan(160 * 1024)
    expect(built.gzipBytes).toBeLessThan(48 * 1024)
  })

  it('the core is at most 10 KiB gzipped, without zod (measured with the esbuild metafile, printed)', async () => {
    const core = await measureClientSize(SIZE_ENTRIES.core)
    console.log(formatSize('client core', core))
    expect(core.gzipBytes).toBeLessThanOrEqual(10 * 1024)
    expect(core.inputs.filter((i) => i.path.includes('node_modules/'))).toEqual([])
  })

  it('importing only isFlowcastError carries no schema and no zod', async () => {
    const only = await measureClientSize(SIZE_ENTRIES['isFlowcastError only'])
    console.log(formatSize('isFlowcastError only', only))
    expect(only.inputs.map((i) => i.path)).toEqual(['protocol/errors.ts'])
    expect(only.gzipBytes).toBeLessThan(1024)
  })

  describe.runIf(runBrowser)('in Chromium', () => {
    let browser: Browser
    let server: FlowcastServer

    beforeAll(async () => {
      server = await startTestServer()
      browser = await launchBrowser()
    })
    afterAll(async () => {
      await browser?.close()
      await server?.close()
    })

    it('starts, streams, stops and reads the result with the global WebSocket and fetch', async () => {
      const page = await browser.newPage()
      // Any page of the server's origin will do: same origin, so no CORS question.
      await page.goto(`${server.url}/healthz`)
      await page.evaluate((c) => {
        ;(window as any).__bundle = c
      }, code)
      // A string, so that vitest does not rewrite this import() on its way into the page.
      await page.evaluate(
        "import(URL.createObjectURL(new Blob([window.__bundle], { type: 'text/javascript' }))).then((m) => { window.__sdk = m })",
      )
      const outcome = await page.evaluate(
        async ({ url }) => {
          const sdk = (window as any).__sdk
          const client = sdk.createClient({ url })
          const { executionId } = await client.start('long-job', { count: 50, size: 16, intervalMs: 1 })
          const seqs: number[] = []
          for await (const ev of client.stream(executionId)) seqs.push(ev.seq)
          const result = await client.result(executionId, { wait: 5000 })
          const slow = await client.start('long-job', { count: 1000, size: 16, intervalMs: 20 })
          const stopped = await client.stopStream(slow.executionId)
          const again = await client.stopStream(slow.executionId)
          const state = client.connectionState
          client.close()
          return { seqs, result, stopped, again, state, closed: client.connectionState }
        },
        { url: server.url },
      )
      expect(outcome.seqs).toEqual(range(1, 50))
      expect(outcome.result).toEqual({ status: 'completed', result: { put: 50, accepted: 50 } })
      expect(outcome.stopped).toEqual({ stopped: true })
      expect(outcome.again).toEqual({ alreadyStopped: true })
      expect(outcome.state).toBe('open')
      expect(outcome.closed).toBe('closed')
      await page.close()
    })
  })
})
