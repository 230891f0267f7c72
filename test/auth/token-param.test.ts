/** The upgrade's `?token=` reader: the same answer as URLSearchParams for every query shape. */
import { describe, expect, it } from 'vitest'
import { isFlowcastError } from '../../protocol/index.ts'
import { tokenAccess, tokenParam } from '../../server/auth/access.ts'
import { Auth } from '../../server/auth/tokens.ts'

/** What URLSearchParams makes of `url`'s query, with an empty token refused as tokenParam does. */
function reference(url: string): string | undefined | 'empty' {
  const q = url.indexOf('?')
  if (q < 0) return undefined
  const value = new URLSearchParams(url.slice(q + 1)).get('token')
  return value === null ? undefined : value === '' ? 'empty' : value
}

function actual(url: string): string | undefined | 'empty' {
  try {
    return tokenParam(url)
  } catch (err) {
    if (isFlowcastError(err, 'unauthorized')) return 'empty'
    throw err
  }
}

describe('tokenParam', () => {
  const urls = [
    '/ws',
    '/ws?',
    '/ws?token=abc.def.ghi',
    '/ws?token=',
    '/ws?token',
    '/ws?token&token=x',
    '/ws?a=1&token=x&token=y',
    '/ws?tokens=x',
    '/ws?xtoken=x',
    '/ws?tok=x&token=y',
    '/ws?&&token=x&',
    '/ws?token=a=b',
    '/ws?=x&token=y',
    '/ws?token=a%2Eb',
    '/ws?tok%65n=x',
    '/ws?token=a+b',
    '/ws??token=x',
    '/ws?a=1?token=x',
    '/ws?token=x#frag',
    '/ws?a=%zz&token=x',
    '/ws?token=é',
  ]
  for (const url of urls)
    it(`reads ${url} as URLSearchParams does`, () => {
      expect(actual(url)).toEqual(reference(url))
    })

  it('an upgrade with a valid ?token= and one with a forged one', async () => {
    const auth = new Auth({ apiKey: 'key-123', secret: 'test-secret-0123456789-abcdefghijklmnop' })
    const access = tokenAccess(auth)
    const token = (await auth.mint('exec-1', 'viewer'))!
    const req = (url: string) => ({ url }) as Parameters<typeof access.fromUpgrade>[0]
    const p = access.fromUpgrade(req(`/ws?x=1&token=${token}`))
    expect(p?.canRead('exec-1')).toBe(true)
    expect(p?.canRead('exec-2')).toBe(false)
    // The same token again: the same rights (the principal of a remembered token is shared).
    expect(access.fromUpgrade(req(`/ws?token=${token}`))).toBe(p)
    expect(() => access.fromUpgrade(req(`/ws?token=${token.slice(0, -2)}xx`))).toThrow(/token is invalid/)
    expect(access.fromUpgrade(req('/ws?other=1'))).toBeUndefined()
  })
})
