/**
 * The watch page in a real Chromium against a real server on port 0: many pages on one execution
 * see the same sequence, an admin's Stop reaches all of them, a page whose TCP connections are cut
 * for seconds recovers without a missing or repeated row, a viewer gets no admin controls.
 */
import { resolve } from 'node:path'
import { fileURLToPath } from 'node:url'
import type { Browser, BrowserContext, Page } from 'playwright-core'
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest'
import { z } from 'zod'
import { catalogFlows, longJobFlow } from '../../flows/catalog/index.ts'
import { TriggerFlow } from '../../flows/index.ts'
import { type FlowcastServer, type ServerOptions, startServer } from '../../server/index.ts'
import { createProxy, type TcpProxy } from '../helpers/tcp-proxy.ts'
import {
  launchBrowser,
  openPage,
  rowSeqs,
  screenshot,
  skipBrowser,
  untilInPage,
  untilResult,
  untilRows,
  untilStreamEnd,
} from './browser.ts'
import { heldJob } from './held-job.ts'

// Not import.meta.dirname: that needs Node 20.11, and package.json promises any Node 20.
const root = fileURLToPath(new URL('../..', import.meta.url))
const API_KEY = 'e2e-api-key-0123456789abcdef'
const SECRET = 'e2e-secret-0123456789abcdef0123456789abcdef'

/** [from, ..., to] */
function range(from: number, to: number): number[] {
  return Array.from({ length: Math.max(0, to - from + 1) }, (_, k) => from + k)
}

/** A flow that fails after one item, for the error panel. */
function failingFlow(): TriggerFlow {
  const flow = new TriggerFlow({ name: 'fails' })
  flow
    .to(
      flow.chunk('boom', async (data) => {
        await data.putIntoStream({ step: 'about to fail' })
        throw new Error('the disk is full')
      }),
    )
    .end()
  return flow
}

/** A flow only this test serves: the page can know its description and example only from the server. */
function onlyHereFlow(): TriggerFlow<any> {
  const flow = new TriggerFlow({
    name: 'only-here',
    description: 'Echoes a greeting; defined in the e2e test alone.',
    exampleInput: { greeting: 'hello from the server', times: 2 },
    contract: { input: z.object({ greeting: z.string(), times: z.number().int().min(1).max(10) }) },
  })
  flow
    .to(
      flow.chunk('echo', async (data) => {
        for (let n = 1; n <= data.input.times; n++) await data.putIntoStream({ n, said: data.input.greeting })
        return data.input.greeting
      }),
    )
    .end()
  return flow
}

/** Opens the gate of the `gated-job` flow below; replaced by each run of it. */
let openGate: () => void = () => {}
/** The `held-job` flow (test/e2e/held-job.ts) and its gate. */
const held = heldJob()

/** True when the page's subscriber count reads `n` (evaluated in the page). */
const countsSubscribers = (n: string) => document.querySelector('#subscribers')?.textContent === n

/**
 * A producer that waits for the test instead of racing it: one item every 20 ms until the test
 * opens the gate, then three more (refused once the stream is stopped), then its result.
 */
function gatedJobFlow(): TriggerFlow<any> {
  const flow = new TriggerFlow({ name: 'gated-job' })
  flow
    .to(
      flow.chunk('produce', async (data) => {
        let open = false
        openGate = () => {
          open = true
        }
        let put = 0
        let accepted = 0
        const putOne = async () => {
          put++
          if (await data.putIntoStream({ n: put, pad: 'x'.repeat(32) })) accepted++
        }
        // Bounded: 100,000 items at 20 ms is over half an hour, far past any test timeout.
        while (!open && put < 100_000 && !data.signal.aborted) {
          await putOne()
          await new Promise<void>((r) => setTimeout(r, 20))
        }
        for (let k = 0; k < 3; k++) await putOne()
        return { put, accepted }
      }),
    )
    .end()
  return flow
}

function serverOptions(auth: ServerOptions['auth']): ServerOptions {
  // Presence every 50 ms so that the subscriber count settles within the short streams here.
  return {
    port: 0,
    auth,
    flows: [...catalogFlows(), failingFlow(), onlyHereFlow(), gatedJobFlow(), held.flow],
    limits: { presenceIntervalMs: 50 },
  }
}

async function startExecution(
  url: string,
  flow: string,
  input: unknown,
  apiKey?: string,
): Promise<{ executionId: string; tokens?: { viewer: string; admin: string }; links: { watch: string } }> {
  const headers: Record<string, string> = { 'content-type': 'application/json' }
  if (apiKey) headers.authorization = `Bearer ${apiKey}`
  const res = await fetch(`${url}/api/flows/${flow}/executions`, {
    method: 'POST',
    headers,
    body: JSON.stringify({ input }),
  })
  expect(res.status).toBe(201)
  return (await res.json()) as any
}

// Six Chromium pages on a loaded 2-core machine can take a while; every wait inside is on an event.
describe.skipIf(skipBrowser)('watch page (Chromium)', { timeout: 120_000 }, () => {
  let browser: Browser
  let server: FlowcastServer
  const contexts: BrowserContext[] = []
  const pageErrors: string[] = []

  beforeAll(async () => {
    server = await startServer(serverOptions('off'))
    browser = await launchBrowser()
  })
  afterEach(async () => {
    for (const c of contexts.splice(0)) await c.close()
    // A script error on any page fails the test that caused it.
    expect(pageErrors.splice(0)).toEqual([])
  })
  afterAll(async () => {
    await browser?.close()
    await server?.close()
  })

  const open = (url: string): Promise<Page> => openPage(browser, url, contexts, pageErrors)

  it('five pages show the identical sequence 1..N, a late page the full history', async () => {
    const N = 80
    // Holds after 20 items until the fifth page has joined and presence reached every page.
    const { executionId } = await startExecution(server.url, 'held-job', {
      count: N,
      holdAfter: 20,
      intervalMs: 10,
    })
    const watch = `${server.url}/?execution=${executionId}`
    const pages = await Promise.all(range(1, 4).map(() => open(watch)))
    // The fifth joins mid-stream: it must replay what it missed, then go on live.
    await untilRows(pages[0]!, 20)
    pages.push(await open(watch))
    // Presence: every page counts the five of them while the stream runs.
    for (const page of pages) await untilInPage(page, 'five watching', countsSubscribers, '5')
    held.openGate()
    expect(await pages[0]!.locator('#connection').getAttribute('data-state')).toBe('open')

    for (const page of pages) expect(await untilStreamEnd(page)).toBe('completed')
    for (const page of pages) expect(await rowSeqs(page)).toEqual(range(1, N))
    for (const page of pages) {
      const result = await untilResult(page)
      expect(result.status).toBe('completed')
      expect(JSON.parse(result.text)).toEqual({ put: N, accepted: N })
      expect(await page.locator('#status').getAttribute('data-status')).toBe('completed')
    }

    const late = await open(watch)
    expect(await untilStreamEnd(late)).toBe('completed')
    expect(await rowSeqs(late)).toEqual(range(1, N))
    expect((await untilResult(late)).status).toBe('completed')
  })

  it("an admin page's Stop ends the stream on all five; each shows the result when the execution completes", async () => {
    // The producer runs until the test opens its gate, so the Stop always lands mid-stream.
    const { executionId } = await startExecution(server.url, 'gated-job', {})
    const watch = `${server.url}/?execution=${executionId}`
    const pages = await Promise.all(range(1, 5).map(() => open(watch)))
    for (const page of pages) await untilRows(page, 10)
    await untilInPage(pages[0]!, 'five watching', countsSubscribers, '5')

    // A live page for the run's record (and, on request, for the README).
    await screenshot(pages[0]!, resolve(root, 'test-results/e2e/watch-page.png'))
    if (process.env.FLOWCAST_DOCS_SCREENSHOT === '1')
      await screenshot(pages[0]!, resolve(root, 'docs/watch-page.png'))

    const stop = pages[0]!.getByRole('button', { name: 'Stop stream' })
    await stop.focus()
    await pages[0]!.keyboard.press('Enter')

    for (const page of pages) expect(await untilStreamEnd(page)).toBe('stopped')
    const seqs = await Promise.all(pages.map(rowSeqs))
    const last = seqs[0]!.length
    expect(last).toBeGreaterThanOrEqual(10)
    for (const s of seqs) expect(s).toEqual(range(1, last))
    expect(await pages[0]!.locator('#stop').isDisabled()).toBe(true)

    // Stopping the stream does not stop the execution: it goes on putting (refused now), completes,
    // and every page shows that.
    openGate()
    for (const page of pages) {
      const result = await untilResult(page)
      expect(result.status).toBe('completed')
      const { put, accepted } = JSON.parse(result.text)
      expect(accepted).toBe(last)
      expect(put).toBeGreaterThanOrEqual(last + 3)
    }
  })

  it('a page whose connections are cut for seconds recovers with no missing and no repeated row', async () => {
    const proxy: TcpProxy = await createProxy(server.port)
    try {
      const N = 240
      // Holds after 20 items until the link is cut, so the 100 events the cut page misses come
      // while it is cut, however long the two pages took to open.
      const { executionId } = await startExecution(server.url, 'held-job', {
        count: N,
        holdAfter: 20,
        intervalMs: 25,
      })
      const cut = await open(`http://127.0.0.1:${proxy.port}/?execution=${executionId}`)
      const direct = await open(`${server.url}/?execution=${executionId}`)
      await untilRows(cut, 20)

      // A dead link: every open connection is dropped and new ones stall until resume.
      proxy.pause()
      expect(proxy.cutAll()).toBeGreaterThan(0)
      await cut.waitForSelector('#connection[data-state="reconnecting"]', { timeout: 5000 })
      const before = (await rowSeqs(cut)).length
      held.openGate()
      // Stay cut while the stream moves on by 100 events (about 2.5 s), seen by the direct page.
      await untilRows(direct, before + 100)
      expect((await rowSeqs(cut)).length).toBe(before)
      expect(await cut.locator('#connection').getAttribute('data-state')).toBe('reconnecting')
      proxy.resume()

      await cut.waitForSelector('#connection[data-state="open"]', { timeout: 15_000 })
      expect(await untilStreamEnd(cut)).toBe('completed')
      expect(await untilStreamEnd(direct)).toBe('completed')
      expect(await rowSeqs(cut)).toEqual(range(1, N))
      expect(await rowSeqs(direct)).toEqual(range(1, N))
      expect((await untilResult(cut)).status).toBe('completed')
    } finally {
      await proxy.close()
    }
  })

  it('starts a flow from the list and leaves no token in the address bar', async () => {
    const page = await open(`${server.url}/`)
    const form = page.locator('form[data-flow="long-job"]')
    await form.getByLabel('Input (JSON)').fill('{"count": 12, "size": 32, "intervalMs": 10}')
    await form.getByRole('button', { name: 'Start' }).click()
    await page.waitForURL(/\?execution=/)
    expect(await untilStreamEnd(page)).toBe('completed')
    expect(await rowSeqs(page)).toEqual(range(1, 12))
    expect(page.url()).not.toContain('token=')
    expect(await page.locator('#stop').isVisible()).toBe(true)
    expect(await page.locator('#role').textContent()).toBe('admin (auth off)')

    // Bad JSON stays on the list with a message on the field.
    await page.goto(`${server.url}/`)
    const input = page.locator('form[data-flow="long-job"]').getByLabel('Input (JSON)')
    await input.fill('{count: 1')
    await input.press('Control+Enter')
    await expect.poll(() => input.getAttribute('aria-invalid')).toBe('true')
    expect(await page.locator('form[data-flow="long-job"] .form-error').textContent()).toContain(
      'not valid JSON',
    )
  })

  it("the flow picker shows each flow's description and example input as the server lists them", async () => {
    const page = await open(`${server.url}/`)
    const form = page.locator('form[data-flow="only-here"]')
    expect(await form.locator('.description').textContent()).toBe(
      'Echoes a greeting; defined in the e2e test alone.',
    )
    const input = form.getByLabel('Input (JSON)')
    expect(JSON.parse(await input.inputValue())).toEqual({ greeting: 'hello from the server', times: 2 })
    // A catalog flow's come from its definition too.
    const longJob = page.locator('form[data-flow="long-job"]')
    expect(await longJob.locator('.description').textContent()).toBe(longJobFlow().description)
    expect(JSON.parse(await longJob.getByLabel('Input (JSON)').inputValue())).toEqual(
      longJobFlow().exampleInput,
    )
    // A flow without them shows no description and its schema's defaults (here none).
    const fails = page.locator('form[data-flow="fails"]')
    expect(await fails.locator('.description').count()).toBe(0)
    expect(JSON.parse(await fails.getByLabel('Input (JSON)').inputValue())).toEqual({})
    // The example starts as it is.
    await form.getByRole('button', { name: 'Start' }).click()
    await page.waitForURL(/\?execution=/)
    expect(await untilStreamEnd(page)).toBe('completed')
    expect(await rowSeqs(page)).toEqual([1, 2])
    expect(JSON.parse((await untilResult(page)).text)).toBe('hello from the server')
  })

  it('an admin answers a waiting approval from the page', async () => {
    const page = await open(`${server.url}/`)
    await page.locator('form[data-flow="approval"]').getByRole('button', { name: 'Start' }).click()
    await page.waitForURL(/\?execution=/)
    const panel = page.locator('#interrupts')
    await panel.waitFor({ state: 'visible', timeout: 10_000 })
    expect(await panel.textContent()).toContain('Approve "Deploy v2 to production"?')
    await panel.getByRole('button', { name: 'Approve' }).click()
    const result = await untilResult(page)
    expect(result.status).toBe('completed')
    expect(JSON.parse(result.text)).toMatchObject({ approved: true, status: 'approved' })
    expect(await panel.isHidden()).toBe(true)
    expect(await page.locator('#events').textContent()).toContain('answered')
  })

  it('a failed execution shows the error panel', async () => {
    const { executionId } = await startExecution(server.url, 'fails', {})
    const page = await open(`${server.url}/?execution=${executionId}`)
    await page.locator('#error-panel').waitFor({ state: 'visible', timeout: 10_000 })
    expect(await page.locator('#error-message').textContent()).toContain('the disk is full')
    expect(await untilStreamEnd(page)).toBe('failed')
    expect(await rowSeqs(page)).toEqual([1])
    expect(await page.locator('#result-panel').isHidden()).toBe(true)
  })

  it('a page holding a viewer token shows no Stop button and no interrupt panel (display only)', async () => {
    // Auth is off here, so the server accepts anything; this checks what the page shows for a
    // viewer role. That the server refuses a viewer's stop is the next test, with auth on.
    const claims = Buffer.from(JSON.stringify({ role: 'viewer', scope: '*' })).toString('base64url')
    const token = `eyJhbGciOiJIUzI1NiJ9.${claims}.unsigned`
    const { executionId } = await startExecution(server.url, 'approval', { request: 'Pay the invoice' })
    const page = await open(`${server.url}/?execution=${executionId}&token=${token}`)
    const waiting = () => document.querySelector('#events')?.textContent?.includes('waiting')
    await untilInPage(page, 'the interrupt row', waiting, 0)
    expect(await page.locator('#role').textContent()).toBe('viewer')
    expect(await page.locator('#stop').isHidden()).toBe(true)
    expect(await page.locator('#interrupts').isHidden()).toBe(true)
    expect(page.url()).toBe(`${server.url}/?execution=${executionId}`)
  })

  describe('with token auth', () => {
    let authServer: FlowcastServer | undefined
    afterEach(async () => {
      await authServer?.close()
      authServer = undefined
    })

    it('a viewer page shows no Stop button and its stop is refused; the admin link from Start has one', async () => {
      authServer = await startServer(serverOptions({ apiKey: API_KEY, secret: SECRET }))
      const started = await startExecution(
        authServer.url,
        'long-job',
        { count: 400, size: 32, intervalMs: 20 },
        API_KEY,
      )
      expect(started.tokens).toBeDefined()
      const id = started.executionId
      const viewer = await open(`${authServer.url}/?execution=${id}&token=${started.tokens!.viewer}`)
      await untilRows(viewer, 5)
      expect(await viewer.locator('#role').textContent()).toBe('viewer')
      expect(await viewer.locator('#stop').isHidden()).toBe(true)
      expect(viewer.url()).not.toContain('token=')

      // The page's own client (the SDK bundle) with the viewer token: the server refuses the stop.
      const refused = await viewer.evaluate(
        `import('/flowcast-client.js').then(async ({ createClient }) => {
             const client = createClient({ url: location.origin, token: ${JSON.stringify(started.tokens!.viewer)} })
             try { await client.stopStream(${JSON.stringify(id)}); return 'accepted' }
             catch (err) { return err.code } finally { client.close() }
           })`,
      )
      expect(refused).toBe('forbidden')
      const http = await fetch(`${authServer.url}/api/executions/${id}/stop-stream`, {
        method: 'POST',
        headers: { authorization: `Bearer ${started.tokens!.viewer}` },
      })
      await http.body?.cancel()
      expect(http.status).toBe(403)
      expect(await viewer.locator('#stream-end').isHidden()).toBe(true)

      // The start form with the API key leads to an admin page, whose Stop ends the viewer's stream.
      const admin = await open(`${authServer.url}/`)
      await admin.getByLabel('API key').fill(API_KEY)
      const form = admin.locator('form[data-flow="long-job"]')
      await form.getByLabel('Input (JSON)').fill('{"count": 400, "size": 32, "intervalMs": 20}')
      await form.getByRole('button', { name: 'Start' }).click()
      await admin.waitForURL(/\?execution=/)
      expect(admin.url()).not.toContain('token=')
      expect(await admin.locator('#role').textContent()).toBe('admin')
      await untilRows(admin, 5)
      await admin.locator('#share').click()
      expect(await admin.locator('#share-url').inputValue()).toContain('token=')
      await admin.getByRole('button', { name: 'Stop stream' }).click()
      expect(await untilStreamEnd(admin)).toBe('stopped')
      // A page without any token is refused by the server.
      const anonymous = await open(`${authServer.url}/?execution=${id}`)
      await anonymous.locator('#notice').waitFor({ state: 'visible', timeout: 10_000 })
      expect(await rowSeqs(anonymous)).toEqual([])
      // A forged token: the page says so and stops trying rather than reconnecting for ever.
      const forged = await open(`${authServer.url}/?execution=${id}&token=${started.tokens!.viewer}x`)
      await forged.locator('#notice').waitFor({ state: 'visible', timeout: 10_000 })
      await forged.waitForSelector('#connection[data-state="closed"]', { timeout: 10_000 })
      expect(await rowSeqs(forged)).toEqual([])
    })
  })
})
