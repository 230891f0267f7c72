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

/** The last console lines of each page, for a wait's timeout message. */
const consoles = new WeakMap<Page, string[]>()
const CONSOLE_LINES = 10

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
  const lines: string[] = []
  consoles.set(page, lines)
  page.on('console', (msg) => {
    if (lines.push(`${msg.type()}: ${msg.text()}`) > CONSOLE_LINES) lines.shift()
  })
  await page.goto(url)
  return page
}

/** The seqs of the event rows, in DOM order. */
export function rowSeqs(page: Page): Promise<number[]> {
  return page.$$eval('#events tr[data-seq]', (rows) => rows.map((r) => Number(r.getAttribute('data-seq'))))
}

/**
 * The bound of each wait below: generous, because on a loaded 2-core machine six Chromium
 * renderers share the cores with the server and the rest of the suite; every wait is on an event.
 */
export const PAGE_WAIT_MS = 30_000

/** What the page shows of its watch, for a wait's timeout message: the state a failure needs. */
async function pageState(page: Page): Promise<string> {
  try {
    const state = await page.evaluate(() => {
      const text = (id: string) => document.getElementById(id)?.textContent?.trim() ?? null
      return {
        rows: document.querySelectorAll('#events tr[data-seq]').length,
        connection: document.getElementById('connection')?.dataset.state ?? null,
        status: document.getElementById('status')?.dataset.status ?? null,
        watching: text('subscribers'),
        notice: text('notice'),
        streamEnd: document.getElementById('stream-end')?.dataset.reason ?? null,
      }
    })
    return `${JSON.stringify(state)}, console ${JSON.stringify(consoles.get(page) ?? [])}`
  } catch (err) {
    return `(unreadable: ${(err as Error).message})`
  }
}

/** Runs `wait`; a timeout is rethrown with what the page showed at that moment. */
async function explained<T>(page: Page, what: string, wait: Promise<T>): Promise<T> {
  try {
    return await wait
  } catch (err) {
    throw new Error(
      `${what}: ${(err as Error).message.split('\n')[0]}; page ${page.url()} shows ${await pageState(page)}`,
      { cause: err },
    )
  }
}

/**
 * How often an in-page wait re-evaluates its predicate. Playwright's waitForFunction polls on
 * requestAnimationFrame by default, which a renderer starved of CPU (six pages and the suite on two
 * cores) can stop running while the page itself is fine and its socket delivers: the likely cause
 * (not reproduced) of CI's 15 s wait for 10 rows at 16:33 on 12-07. A timer keeps polling whatever
 * the frames do. (waitForSelector polls from Playwright's side, on its own timers.)
 */
export const POLL_MS = 50

/** Resolves once `predicate(arg)` is true in the page (polled every POLL_MS); a timeout says what the page showed. */
export async function untilInPage<A>(
  page: Page,
  what: string,
  predicate: (arg: A) => unknown,
  arg: A,
  timeout = PAGE_WAIT_MS,
): Promise<void> {
  // Playwright types the page's argument as its unboxed form, which a generic A cannot be shown to be.
  const inPage = predicate as (arg: unknown) => unknown
  await explained(page, what, page.waitForFunction(inPage, arg, { timeout, polling: POLL_MS }))
}

/** Resolves once the page shows at least `n` event rows. */
export function untilRows(page: Page, n: number, timeout = PAGE_WAIT_MS): Promise<void> {
  const shown = (min: number) => document.querySelectorAll('#events tr[data-seq]').length >= min
  return untilInPage(page, `waiting for ${n} rows`, shown, n, timeout)
}

/** Resolves once the page shows the stream's end; returns its reason. */
export async function untilStreamEnd(page: Page, timeout = PAGE_WAIT_MS): Promise<string> {
  const wait = page.waitForSelector('#stream-end[data-reason]', { state: 'visible', timeout })
  const end = await explained(page, 'waiting for the stream end', wait)
  return (await end.getAttribute('data-reason')) ?? ''
}

/** Resolves with the shown result once the result panel appears. */
export async function untilResult(
  page: Page,
  timeout = PAGE_WAIT_MS,
): Promise<{ status: string; text: string }> {
  await explained(
    page,
    'waiting for the result',
    page.waitForSelector('#result-panel', { state: 'visible', timeout }),
  )
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
