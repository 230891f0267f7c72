/**
 * The watch page's nodes panel in a real Chromium: a model-outline execution whose model (the
 * local OpenAI-compatible test server, through the real AI SDK) is held mid-answer shows a string
 * still being written, then, once the model goes on, every leaf of the answer complete.
 */
import type { Browser, BrowserContext } from 'playwright-core'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { modelOutlineFlow } from '../../flows/catalog/model-outline.ts'
import { type FlowcastServer, startServer } from '../../server/index.ts'
import { type FakeOpenAI, startFakeOpenAI } from '../helpers/fake-openai.ts'
import { until } from '../helpers/wait.ts'
import { launchBrowser, openPage, skipBrowser, untilResult } from './browser.ts'

const OUTLINE = {
  title: 'Rooms, a field guide',
  sections: [
    { heading: 'Overview', bullets: ['fan-out once', 'replay'] },
    { heading: 'Limits', bullets: ['retention'] },
  ],
}

describe.skipIf(skipBrowser)('watch page: nodes of a model answer (Chromium)', () => {
  let browser: Browser
  let server: FlowcastServer
  let fake: FakeOpenAI
  const contexts: BrowserContext[] = []
  const pageErrors: string[] = []

  beforeAll(async () => {
    fake = await startFakeOpenAI()
    const flow = modelOutlineFlow({
      model: { baseURL: fake.baseURL, model: 'fake-model' },
      retry: { attempts: 1 },
    })
    server = await startServer({ port: 0, auth: 'off', flows: [flow] })
    browser = await launchBrowser()
  })
  afterAll(async () => {
    for (const c of contexts) await c.close()
    await browser?.close()
    await server?.close()
    await fake?.close()
  })

  it('shows each leaf as it fills in, and all of them complete at the end', async () => {
    let open!: () => void
    // 14 one-character deltas: the model stops inside the title string until the gate opens.
    const text = JSON.stringify(OUTLINE)
    fake.reply({ kind: 'stream', text, deltas: [1], after: 14, gate: new Promise<void>((r) => (open = r)) })
    const res = await fetch(`${server.url}/api/flows/model-outline/executions`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ input: { topic: 'rooms', sections: 2, bullets: 2, tokenDelayMs: 0 } }),
    })
    expect(res.status).toBe(201)
    const { executionId } = (await res.json()) as { executionId: string }
    const page = await openPage(browser, `${server.url}/?execution=${executionId}`, contexts, pageErrors)
    await until(() => fake.requests[0]?.sent === 14, 15_000, 'the model to reach the gate')
    const title = page.locator('#node-list li[data-path=\'["title"]\']')
    await title.waitFor({ timeout: 15_000 })
    expect(await title.getAttribute('data-complete')).toBe('false')
    expect(await title.locator('.v').textContent()).toBe(text.slice(10, 14))
    open()

    expect((await untilResult(page)).status).toBe('completed')
    const rows = await page
      .locator('#node-list li')
      .evaluateAll((lis) =>
        lis.map((li) => [
          li.getAttribute('data-path'),
          li.querySelector('.v')?.textContent,
          li.getAttribute('data-complete'),
        ]),
      )
    expect(rows).toStrictEqual([
      ['["title"]', OUTLINE.title, 'true'],
      ['["sections",0,"heading"]', 'Overview', 'true'],
      ['["sections",0,"bullets",0]', 'fan-out once', 'true'],
      ['["sections",0,"bullets",1]', 'replay', 'true'],
      ['["sections",1,"heading"]', 'Limits', 'true'],
      ['["sections",1,"bullets",0]', 'retention', 'true'],
    ])
    expect(pageErrors).toStrictEqual([])
  })
})
