/**
 * The e2e tests' browser: Debian's Chromium driven by playwright-core (never a downloaded build),
 * and the few DOM reads the watch-page tests share.
 */
import { existsSync, mkdirSync } from 'node:fs'
import { dirname } from 'node:path'
import { type Browser, type BrowserContext, chromium, type Page } from 'playwright-core'

/** Debian's Chromium; CHROMIUM_PATH overrides it (the bundle test reads the same variable). */
export const CHROMIUM = process.env.CHROMIUM_PATH ?? '/usr/bin/chromium'
const required = process.env.FLOWCAST_REQUIRE_BROWSER === '1'

/** True when the e2e tests must be skipped: no Chromium here and CI did not ask for it. */
export const skipBrowser = !existsSync(CHROMIUM) && !required
if (skipBrowser) {
  console.warn(
    `e2e: skipped, ${CHROMIUM} is missing (apt-get install chromium; FLOWCAST_REQUIRE_BROWSER=1 makes this fail)`,
  )
}

/** Launches headless Chromium with the flags that keep it off the network and quiet. */
export function launchBrowser(): Promise<Browser> {
  return chromium.launch({
    executablePath: CHROMIUM,
    headless: true,
    args: [
      '--no-sandbox',
      '--disable-gpu',
      '--disable-background-networking',
      '--disable-component-update',
      '--disable-sync',
      '--no-first-run',
      '--disable-quic',
    ],
  })
}

/**
 * A page in its own context, as a separate viewer would have: its own sessionStorage and its own
 * connection pool (Chromium allows six HTTP connections per host and context, and every watch page
 * holds one for the result long-poll).
 */
export async function openPage(
  browser: Browser,
  url: string,
  contexts: BrowserContext[],
  errors?: string[],
): Promise<Page> {
  const context = await browser.newContext({ viewport: { width: 1180, height: 860 } })
  contexts.push(context)
  const page = await context.newPage()
  page.on('pageerror', (err) => errors?.push(`${url}: ${err.message}`))
  await page.goto(url)
  return page
}

/** The seqs of the event rows, in DOM order. */
export function rowSeqs(page: Page): Promise<number[]> {
  return page.$$eval('#events tr[data-seq]', (rows) => rows.map((r) => Number(r.getAttribute('data-seq'))))
}

/** Resolves once the page shows at least `n` event rows. */
export async function untilRows(page: Page, n: number, timeout = 15_000): Promise<void> {
  await page.waitForFunction((min) => document.querySelectorAll('#events tr[data-seq]').length >= min, n, {
    timeout,
  })
}

/** Resolves once the page shows the stream's end; returns its reason. */
export async function untilStreamEnd(page: Page, timeout = 15_000): Promise<string> {
  const end = await page.waitForSelector('#stream-end[data-reason]', { state: 'visible', timeout })
  return (await end.getAttribute('data-reason')) ?? ''
}

/** Resolves with the shown result once the result panel appears. */
export async function untilResult(page: Page, timeout = 15_000): Promise<{ status: string; text: string }> {
  await page.waitForSelector('#result-panel', { state: 'visible', timeout })
  const pre = page.locator('#result')
  return { status: (await pre.getAttribute('data-status')) ?? '', text: (await pre.textContent()) ?? '' }
}

/** Saves a screenshot of `page` to `file` (creating its folder). */
export async function screenshot(page: Page, file: string): Promise<void> {
  mkdirSync(dirname(file), { recursive: true })
  // The watch page loads no web fonts, and Playwright's wait for document.fonts.ready before a shot
  // is where a loaded machine's run hung for the whole 30 s timeout (call log: "waiting for fonts
  // to load...", microsoft/playwright#28995); Playwright reads this switch at each screenshot.
  process.env.PW_TEST_SCREENSHOT_NO_FONTS_READY = '1'
  await page.screenshot({ path: file, fullPage: false })
}
