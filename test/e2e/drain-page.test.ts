/**
 * The watch page across a drain (issue 13), on `flowcast serve` as deployed: SIGTERM drains the
 * node, and past its drain timeout it ends a running execution as failed with error code
 * `shutdown`, then closes and exits 0. A page watching it shows why — the status
 * `failed`, the stream's end, the error panel with `shutdown` and the server's words — and keeps
 * showing it after the node closes and its connection is gone, instead of sitting in
 * `cancelled` / `reconnecting…` with no notice. A page on an execution that finished during the
 * drain shows its result.
 */
import type { Browser, BrowserContext } from 'playwright-core'
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest'
import { serveCli, stopAll } from '../helpers/cli.ts'
import { waitFor } from '../helpers/wait.ts'
import {
  launchBrowser,
  openPage,
  rowSeqs,
  skipBrowser,
  untilInPage,
  untilResult,
  untilRows,
  untilStreamEnd,
} from './browser.ts'

/** POST an execution (auth off); its id. */
async function start(url: string, flow: string, input: unknown): Promise<string> {
  const res = await fetch(`${url}/api/flows/${flow}/executions`, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify({ input }),
  })
  expect(res.status).toBe(201)
  return ((await res.json()) as { executionId: string }).executionId
}

describe.skipIf(skipBrowser)('watch page across a drain (Chromium)', { timeout: 120_000 }, () => {
  let browser: Browser
  const contexts: BrowserContext[] = []
  const pageErrors: string[] = []

  beforeAll(async () => {
    browser = await launchBrowser()
  })
  afterEach(async () => {
    for (const c of contexts.splice(0)) await c.close()
    await stopAll()
    expect(pageErrors.splice(0)).toEqual([])
  })
  afterAll(async () => {
    await browser?.close()
  })

  it('SIGTERM: the page of an execution the drain ended shows the shutdown error, and keeps it once the node is gone', async () => {
    const cli = await serveCli([], { FLOWCAST_AUTH: 'off', FLOWCAST_DRAIN_TIMEOUT_MS: '3000' })
    // Runs for minutes unless ended: the drain's timeout ends it.
    const long = await start(cli.url, 'long-job', { count: 100_000, size: 16, intervalMs: 20 })
    // Finishes within the drain: its page shows the result, not an error.
    const short = await start(cli.url, 'long-job', { count: 60, size: 16, intervalMs: 25 })
    const ended = await openPage(browser, `${cli.url}/?execution=${long}`, contexts, pageErrors)
    const finished = await openPage(browser, `${cli.url}/?execution=${short}`, contexts, pageErrors)
    await untilRows(ended, 3)
    await untilRows(finished, 1)

    cli.child.kill('SIGTERM')
    await cli.line((e) => e.msg === 'draining', 10_000, 'the draining line')
    expect((await fetch(`${cli.url}/readyz`)).status).toBe(503)
    expect(await waitFor(cli.exited, 30_000, 'the node to drain and exit')).toBe(0)
    expect((await cli.line((e) => e.msg === 'drained', 1000, 'the drained line')).ended).toBe(1)

    // The ended one: failed, why, and the stream's end, with every row it was sent; its
    // connection is gone (the node closed), and the outcome stays on screen.
    await ended.locator('#error-panel').waitFor({ state: 'visible', timeout: 15_000 })
    expect(await ended.locator('#error-panel').getAttribute('data-code')).toBe('shutdown')
    expect(await ended.locator('#error-message').textContent()).toMatch(
      /^shutdown: the node shut down before the execution finished \(drain timeout 3000 ms\)/,
    )
    expect(await untilStreamEnd(ended)).toBe('failed')
    expect(await ended.locator('#status').getAttribute('data-status')).toBe('failed')
    const seqs = await rowSeqs(ended)
    expect(seqs).toEqual(Array.from({ length: seqs.length }, (_, k) => k + 1))
    expect(await ended.locator('#result-panel').isHidden()).toBe(true)
    const notOpen = () => document.querySelector('#connection')?.getAttribute('data-state') !== 'open'
    await untilInPage(ended, 'the connection to leave open', notOpen, 0, 15_000)
    expect(await ended.locator('#status').getAttribute('data-status')).toBe('failed')
    expect(await ended.locator('#error-panel').isVisible()).toBe(true)

    // The one that finished during the drain: its result and a completed stream.
    const result = await untilResult(finished)
    expect(result.status).toBe('completed')
    expect(JSON.parse(result.text)).toEqual({ put: 60, accepted: 60 })
    expect(await untilStreamEnd(finished)).toBe('completed')
    expect(await rowSeqs(finished)).toEqual(Array.from({ length: 60 }, (_, k) => k + 1))
  })
})
