import { SignJWT } from 'jose'
import { describe, expect, it } from 'vitest'
import { isFlowcastError } from '../../protocol/index.ts'
import { Auth, bearer, canAdminister, canCommand, canRead } from '../../server/auth/tokens.ts'
import { TokenBucket } from '../../server/ws/token-bucket.ts'

const secret = 'test-secret-0123456789-abcdefghijklmnop'
const auth = new Auth({ apiKey: 'key-123', secret })

async function rejectsWith(run: () => unknown, code: string): Promise<string> {
  try {
    await run()
  } catch (err) {
    expect(isFlowcastError(err)).toBe(true)
    expect((err as { code: string }).code).toBe(code)
    return (err as Error).message
  }
  throw new Error('expected a rejection')
}

describe('tokens', () => {
  it('a minted viewer token reads only its execution and commands nothing', async () => {
    const p = await auth.authenticate(await auth.mint('exec-1', 'viewer'))
    expect(p).toEqual({ kind: 'token', role: 'viewer', scope: 'exec-1', exp: expect.any(Number) })
    expect(canRead(p, 'exec-1')).toBe(true)
    expect(canRead(p, 'exec-2')).toBe(false)
    expect(canCommand(p, 'exec-1')).toBe(false)
    expect(canAdminister(p)).toBe(false)
  })

  it('an admin token commands its execution only; a * token reaches all', async () => {
    const one = await auth.authenticate(await auth.mint('exec-1', 'admin'))
    expect(canCommand(one, 'exec-1')).toBe(true)
    expect(canCommand(one, 'exec-2')).toBe(false)
    const all = await auth.authenticate(await auth.mint('*', 'viewer'))
    expect(canRead(all, 'anything')).toBe(true)
    expect(canCommand(all, 'anything')).toBe(false)
  })

  it('the API key administers; a wrong key is no key', async () => {
    expect(canAdminister(await auth.authenticate('key-123'))).toBe(true)
    await rejectsWith(() => auth.authenticate('key-124'), 'unauthorized')
    await rejectsWith(() => auth.authenticate(undefined), 'unauthorized')
  })

  it('rejects forged, expired and foreign-secret tokens without echoing them', async () => {
    const good = await auth.mint('exec-1', 'admin')
    const forged = `${good.slice(0, -4)}AAAA`
    const msg = await rejectsWith(() => auth.authenticate(forged), 'unauthorized')
    expect(msg).not.toContain(forged)
    const expired = await new SignJWT({ role: 'admin', scope: '*' })
      .setProtectedHeader({ alg: 'HS256' })
      .setIssuer('flowcast')
      .setAudience('flowcast-stream')
      .setIssuedAt(Math.floor(Date.now() / 1000) - 120)
      .setExpirationTime(Math.floor(Date.now() / 1000) - 60)
      .sign(new TextEncoder().encode(secret))
    expect(await rejectsWith(() => auth.authenticate(expired), 'unauthorized')).toBe('token expired')
    const other = new Auth({ apiKey: 'k', secret: 'another-secret-0123456789-abcdefghij' })
    await rejectsWith(async () => auth.authenticate(await other.mint('*', 'admin')), 'unauthorized')
  })

  it('rejects a validly signed token whose role is not a known role', async () => {
    const weird = await new SignJWT({ role: 'root', scope: '*' })
      .setProtectedHeader({ alg: 'HS256' })
      .setIssuer('flowcast')
      .setAudience('flowcast-stream')
      .setExpirationTime('1h')
      .sign(new TextEncoder().encode(secret))
    await rejectsWith(() => auth.authenticate(weird), 'unauthorized')
  })

  it('rejects a validly signed token without an expiry (it would never expire)', async () => {
    const forever = await new SignJWT({ role: 'viewer', scope: '*' })
      .setProtectedHeader({ alg: 'HS256' })
      .setIssuer('flowcast')
      .setAudience('flowcast-stream')
      .sign(new TextEncoder().encode(secret))
    expect(await rejectsWith(() => auth.authenticate(forever), 'unauthorized')).toBe('token is invalid')
  })

  it('auth off makes everyone an admin of everything', async () => {
    const p = await new Auth('off').authenticate(undefined)
    expect(canCommand(p, 'x')).toBe(true)
    expect(canAdminister(p)).toBe(true)
  })

  it('reads bearer credentials', () => {
    expect(bearer('Bearer abc.def')).toBe('abc.def')
    expect(bearer('bearer  xyz ')).toBe('xyz')
    expect(bearer('Basic abc')).toBeUndefined()
    expect(bearer(undefined)).toBeUndefined()
  })
})

describe('token bucket', () => {
  it('allows a burst, refuses past it, refills with time', () => {
    let now = 0
    const bucket = new TokenBucket(10, 3, () => now)
    expect([bucket.take(), bucket.take(), bucket.take(), bucket.take()]).toEqual([true, true, true, false])
    expect(bucket.refusals).toBe(1)
    now += 100 // one token at 10/s
    expect([bucket.take(), bucket.take()]).toEqual([true, false])
    now += 10_000
    expect([bucket.take(), bucket.take(), bucket.take(), bucket.take()]).toEqual([true, true, true, false])
  })
})
