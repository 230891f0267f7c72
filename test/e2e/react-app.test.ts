/**
 * examples/react-app (Vite + React 19, StrictMode, a development build) built from the packed
 * @flowcast/client and driven in Chromium against a real server on port 0 with auth on: several
 * panels on one client each show exactly 1..N, an admin stops the stream, 3 s tokens are refreshed
 * through getToken over the socket and over SSE, blocked WebSockets fall back to SSE, unmounting
 * releases the server's subscription, and the presence count is shown.
 */
import type { Browser, BrowserContext, Page } from 'playwright-core'
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest'
import { catalogFlows } from '../../flows/catalog/index.ts'
import { type FlowcastServer, startServer } from '../../server/index.ts'
import { eventually } from '../helpers/poll.ts'
import { launchBrowser, skipBrowser, untilInPage } from './browser.ts'
import { heldJob } from './held-job.ts'
import { type AppServer, buildReactApp, serveApp } from './react-app.ts'

/** True when every panel's presence shows `n` watchers (evaluated in the page). */
const watching = (n: string) =>
  [...document.querySelectorAll('section.panel .presence')].every((p) => p.textContent === n)

const API_KEY = 'react-app-api-key-0123456789abcdef'
const SECRET = 'react-app-secret-0123456789abcdef0123456789abcdef'
const PANELS = 3
/** The `held-job` flow (test/e2e/held-job.ts) and its gate. */
const held = heldJob()

/** [from, ..., to] */
function range(from: number, to: number): number[] {
  return Array.from({ length: Math.max(0, to - from + 1) }, (_, k) => from + k)
}

/** What one panel shows. */
interface PanelView {
  seqs: number[]
  end: string
  presence: string
  watchers: string
  transport: string
  error: string
}

function panels(page: Page): Promise<PanelView[]> {
  return page.$$eval('section.panel', (sections) =>
    sections.map((s) => ({
      seqs: [...s.querySelectorAll('li[data-seq]')].map((li) => Number(li.getAttribute('data-seq'))),
      end: s.querySelector('.end')?.getAttribute('data-reason') ?? '',
      presence: s.querySelector('.presence')?.textContent ?? '',
      watchers: s.querySelector('.watchers')?.textContent ?? '',
      transport: s.querySelector('.transport')?.textContent ?? '',
      error: s.querySelector('.error')?.getAttribute('data-code') ?? '',
    })),
  )
}

/** Resolves once every panel has at least `n` events. */
async function untilEvents(page: Page, n: number, timeout = 30_000): Promise<void> {
  await untilInPage(
    page,
    `${n} events in every panel`,
    ({ min, count }) => {
      const all = document.querySelectorAll('section.panel')
      return all.length === count && [...all].every((s) => s.querySelectorAll('li[data-seq]').length >= min)
    },
    { min: n, count: PANELS },
    timeout,
  )
}

/** Resolves once every panel shows the stream's end. */
async function untilEnded(page: Page, timeout = 60_000): Promise<void> {
  await untilInPage(
    page,
    'the end in every panel',
    (count) => {
      const all = document.querySelectorAll('section.panel')
      return all.length === count && [...all].every((s) => s.querySelector('.end[data-reason]'))
    },
    PANELS,
    timeout,
  )
}

// Chromium, a Vite build and long-running streams on a loaded 2-core machine: every wait inside is
// on an event, with bounds far above what it needs.
describe.skipIf(skipBrowser)('React example app (Chromium, packed client)', { timeout: 120_000 }, () => {
  let browser: Browser
  let server: FlowcastServer
  let app: AppServer
  let removeBuild = (): void => {}
  const contexts: BrowserContext[] = []
  const pageErrors: string[] = []

  beforeAll(async () => {
    const built = await buildReactApp()
    removeBuild = built.remove
    let mint: (id: string, role: 'viewer' | 'admin', ttl: number) => Promise<string | undefined> = () =>
      Promise.resolve(undefined)
    app = await serveApp(built.dist, (id, role, ttl) => mint(id, role, ttl))
    server = await startServer({
      port: 0,
      auth: { apiKey: API_KEY, secret: SECRET },
      flows: [...catalogFlows(), held.flow],
      // The app is another origin, as a Vite app usually is: CORS and the socket's Origin check.
      allowedOrigins: [app.url],
      // Presence every 50 ms, so the counts settle within the short streams here.
      limits: { presenceIntervalMs: 50 },
    })
    mint = (id, role, ttl) => server.mintToken(id, role, ttl)
    browser = await launchBrowser()
  }, 600_000)
  afterEach(async () => {
    for (const c of contexts.splice(0)) await c.close()
    // A script error on any page fails the test that caused it.
    expect(pageErrors.splice(0)).toEqual([])
    app.asked.length = 0
  })
  afterAll(async () => {
    await browser?.close()
    await server?.close()
    await app?.close()
    removeBuild()
  })

  async function startFlow(flow: string, input: unknown): Promise<string> {
    const res = await fetch(`${server.url}/api/flows/${flow}/executions`, {
      method: 'POST',
      headers: { authorization: `Bearer ${API_KEY}`, 'content-type': 'application/json' },
      body: JSON.stringify({ input }),
    })
    expect(res.status).toBe(201)
    return ((await res.json()) as { executionId: string }).executionId
  }

  const start = (count: number, intervalMs: number) => startFlow('long-job', { count, size: 16, intervalMs })

  async function snapshot(id: string): Promise<{ subscribers: number; status: string }> {
    const res = await fetch(`${server.url}/api/executions/${id}`, {
      headers: { authorization: `Bearer ${API_KEY}` },
    })
    return (await res.json()) as { subscribers: number; status: string }
  }

  async function cancel(id: string): Promise<void> {
    await fetch(`${server.url}/api/executions/${id}/cancel`, {
      method: 'POST',
      headers: { authorization: `Bearer ${API_KEY}` },
    })
  }

  /**
   * Opens the app on `executionId` in a context of its own; `blockWs` makes every WebSocket to the
   * server fail before its first message (as a proxy that refuses upgrades would).
   */
  async function openApp(
    executionId: string,
    options: { ttl?: number; admin?: boolean; blockWs?: boolean } = {},
  ): Promise<{ page: Page; sockets: string[]; requests: string[]; blocked: () => number }> {
    const context = await browser.newContext({ viewport: { width: 1180, height: 860 } })
    contexts.push(context)
    let blocked = 0
    if (options.blockWs)
      await context.routeWebSocket(/\/ws(\?|$)/, (ws) => {
        blocked++
        ws.close({ code: 1011, reason: 'blocked by the test' })
      })
    const page = await context.newPage()
    const sockets: string[] = []
    page.on('websocket', (ws) => sockets.push(ws.url()))
    // Every URL the page asks of the flowcast server (HTTP and SSE), to check that no token is in one.
    const requests: string[] = []
    page.on('request', (req) => {
      if (req.url().startsWith(server.url)) requests.push(req.url())
    })
    page.on('pageerror', (err) => pageErrors.push(err.message))
    const q = new URLSearchParams({
      server: server.url,
      execution: executionId,
      panels: String(PANELS),
      tokens: `${app.url}/token?ttl=${options.ttl ?? 300}`,
    })
    if (options.admin) q.set('admin', '1')
    await page.goto(`${app.url}/?${q}`)
    return { page, sockets, requests, blocked: () => blocked }
  }

  it('three panels on one client each show exactly 1..N; StrictMode double-mounted them; one socket', async () => {
    const count = 150
    const id = await start(count, 10)
    const { page, sockets } = await openApp(id)
    await untilEnded(page)
    const views = await panels(page)
    for (const v of views) {
      expect(v.seqs).toEqual(range(1, count))
      expect(v.end).toBe('completed')
      expect(v.error).toBe('')
      expect(v.transport).toBe('websocket')
    }
    // The development build's StrictMode ran every panel's effects twice (mount, unmount, mount).
    expect(await page.evaluate(() => (window as { flowcastPanelMounts?: number }).flowcastPanelMounts)).toBe(
      2 * PANELS,
    )
    // One client, one socket, despite the double mount; the token travels in a frame, not the URL.
    expect(sockets).toHaveLength(1)
    expect(sockets[0]).not.toMatch(/[?&]token=/)
    const result = await page.waitForSelector('#result[data-status]', { timeout: 30_000 })
    expect(await result.getAttribute('data-status')).toBe('completed')
    expect(JSON.parse((await result.textContent()) ?? '{}').result).toEqual({ put: count, accepted: count })
  })

  it('presence: each panel shows the server count of wire subscriptions and the watchers on its client', async () => {
    const id = await start(100_000, 20)
    try {
      const first = await openApp(id)
      await untilEvents(first.page, 3)
      await untilInPage(first.page, 'presence 1 in every panel', watching, '1')
      const second = await openApp(id)
      await untilEvents(second.page, 3)
      // Two clients (one each page), so two wire subscriptions, each carrying three watchers.
      for (const { page } of [first, second]) {
        await untilInPage(page, 'presence 2 in every panel', watching, '2')
        for (const v of await panels(page)) expect(v.watchers).toBe(String(PANELS))
      }
      expect((await snapshot(id)).subscribers).toBe(2)
      await second.page.close()
      await untilInPage(first.page, 'presence 1 in every panel', watching, '1')
    } finally {
      await cancel(id)
    }
  })

  it("an admin's Stop ends every panel's stream with reason stopped, each with the same 1..k", async () => {
    const id = await start(100_000, 20)
    try {
      const { page } = await openApp(id, { admin: true })
      await untilEvents(page, 3)
      await page.click('#stop')
      await untilEnded(page)
      expect(await page.textContent('#stop-outcome')).toBe('stopped')
      const views = await panels(page)
      const last = views[0]!.seqs.length
      expect(last).toBeGreaterThanOrEqual(3)
      for (const v of views) {
        expect(v.end).toBe('stopped')
        expect(v.seqs).toEqual(range(1, last))
      }
      // The stop came with an admin token fetched for it; the panels' tokens are viewers'.
      expect(app.asked.filter((a) => a.role === 'admin')).toHaveLength(1)
      expect((await snapshot(id)).status).toBe('running')
    } finally {
      await cancel(id)
    }
  })

  for (const transport of ['websocket', 'sse'] as const) {
    it(`3 s tokens expire mid-stream over ${transport}: getToken refreshes them, every panel shows exactly 1..N`, async () => {
      // About 8 s of stream after the gate: each token runs out at least twice on the way; 3 s
      // leave a loaded machine time to use a fresh token before it runs out too. The flow holds
      // after 5 items until the app shows them, so those 8 s all come with the page open.
      const count = 400
      const id = await startFlow('held-job', { count, holdAfter: 5, intervalMs: 20 })
      const { page, blocked } = await openApp(id, { ttl: 3, blockWs: transport === 'sse' })
      await untilEvents(page, 5)
      held.openGate()
      await untilEnded(page, 90_000)
      for (const v of await panels(page)) {
        expect(v.seqs).toEqual(range(1, count))
        expect(v.end).toBe('completed')
        expect(v.error).toBe('')
        expect(v.transport).toBe(transport)
      }
      // The server refused an expired token and the client asked the backend again, for this execution.
      expect(app.asked.filter((a) => a.reason === 'expired' && a.execution === id).length).toBeGreaterThan(0)
      if (transport === 'sse') expect(blocked()).toBeGreaterThan(0)
    })
  }

  it('with WebSockets blocked, the same app completes over SSE with exactly 1..N', async () => {
    const count = 150
    const id = await start(count, 10)
    const { page, blocked, requests } = await openApp(id, { blockWs: true })
    await untilEnded(page)
    for (const v of await panels(page)) {
      expect(v.seqs).toEqual(range(1, count))
      expect(v.end).toBe('completed')
      expect(v.transport).toBe('sse')
    }
    expect(blocked()).toBeGreaterThanOrEqual(2)
    // The SSE stream is opened with a stream ticket (the token went in a header to get it), never a token.
    const streams = requests.filter((u) => new URL(u).pathname === `/api/executions/${id}/stream`)
    expect(streams.length).toBeGreaterThan(0)
    for (const u of streams) expect(new URL(u).searchParams.has('ticket')).toBe(true)
    for (const u of requests) expect(new URL(u).searchParams.has('token'), u).toBe(false)
    const result = await page.waitForSelector('#result[data-status]', { timeout: 30_000 })
    expect(await result.getAttribute('data-status')).toBe('completed')
  })

  it("unmounting every panel releases the server's subscription: subscribers back to 0", async () => {
    const id = await start(100_000, 20)
    try {
      const { page } = await openApp(id)
      await untilEvents(page, 3)
      expect((await snapshot(id)).subscribers).toBe(1)
      await page.click('#toggle')
      await untilInPage(page, 'no panel', () => document.querySelectorAll('section.panel').length === 0, 0)
      const released = Date.now()
      await eventually(async () => (await snapshot(id)).subscribers === 0, 10_000, 'subscribers 0', 25)
      console.log(`react-app: subscribers 0 within ${Date.now() - released} ms of the unmount`)
      // Mounting again subscribes again, from the start: the app shows a fresh exact sequence.
      await page.click('#toggle')
      await untilEvents(page, 3)
      for (const v of await panels(page)) expect(v.seqs).toEqual(range(1, v.seqs.length))
      expect((await snapshot(id)).subscribers).toBe(1)
    } finally {
      await cancel(id)
    }
  })
})
