/** The watch page's assets: only its own files, and names that are Object.prototype's keys are just absent. */
import { describe, expect, it } from 'vitest'
import { serve } from './fixtures.ts'

describe('assets', () => {
  it('answers 404 not_found for constructor, __proto__, toString and other unknown names', async () => {
    const server = await serve()
    for (const name of [
      'constructor',
      '__proto__',
      'toString',
      'hasOwnProperty',
      'nope.js',
      '..%2Fpage.ts',
    ]) {
      const res = await fetch(`${server.url}/assets/${name}`)
      expect({ name, status: res.status }).toEqual({ name, status: 404 })
      expect((await res.json()).error.code).toBe('not_found')
    }
    const page = await fetch(`${server.url}/assets/page.js`)
    expect(page.status).toBe(200)
    expect(page.headers.get('content-type')).toContain('text/javascript')
    await page.text()
  })
})
