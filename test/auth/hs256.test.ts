/**
 * The HS256 tokens of server/auth/hs256.ts against jose, a full JOSE implementation: each accepts
 * the other's tokens, and every way a token can be wrong is refused with its reason.
 */
import { createHmac } from 'node:crypto'
import { jwtVerify, SignJWT } from 'jose'
import { describe, expect, it } from 'vitest'
import { Hs256, type TokenFault, TokenRejected } from '../../server/auth/hs256.ts'

const SECRET = 'hs256-test-secret-0123456789-abcdefghij'
const key = new TextEncoder().encode(SECRET)
const hs = new Hs256(SECRET)
const expect_ = { issuer: 'flowcast', audience: 'flowcast-stream' }
const now = () => Math.floor(Date.now() / 1000)
const claims = (extra: Record<string, unknown> = {}) => ({
  iss: 'flowcast',
  aud: 'flowcast-stream',
  iat: now(),
  exp: now() + 60,
  role: 'viewer',
  scope: 'x',
  ...extra,
})

function faultOf(token: string): TokenFault | 'accepted' {
  try {
    hs.verify(token, expect_)
    return 'accepted'
  } catch (err) {
    if (err instanceof TokenRejected) return err.fault
    throw err
  }
}

/** A token with any header and payload, signed with the test secret. */
function handMade(header: unknown, payload: unknown, secret = SECRET): string {
  const input = `${Buffer.from(JSON.stringify(header)).toString('base64url')}.${Buffer.from(JSON.stringify(payload)).toString('base64url')}`
  return `${input}.${createHmac('sha256', secret).update(input).digest('base64url')}`
}

describe('HS256 tokens', () => {
  it('jose verifies the tokens it signs, and it verifies the tokens jose signs', async () => {
    const ours = hs.sign(claims({ role: 'admin', scope: 'exec-1' }))
    const { payload } = await jwtVerify(ours, key, {
      issuer: 'flowcast',
      audience: 'flowcast-stream',
      algorithms: ['HS256'],
    })
    expect(payload).toMatchObject({ role: 'admin', scope: 'exec-1' })
    const theirs = await new SignJWT({ role: 'viewer', scope: '*' })
      .setProtectedHeader({ alg: 'HS256', typ: 'JWT' })
      .setIssuer('flowcast')
      .setAudience(['other', 'flowcast-stream'])
      .setIssuedAt()
      .setExpirationTime('1h')
      .sign(key)
    expect(hs.verify(theirs, expect_)).toMatchObject({ role: 'viewer', scope: '*' })
  })

  it('refuses a changed payload, another secret, a cut or padded signature, and non-canonical base64url', () => {
    const good = hs.sign(claims())
    const [h, p, s] = good.split('.') as [string, string, string]
    const otherPayload = Buffer.from(JSON.stringify(claims({ role: 'admin' }))).toString('base64url')
    expect(faultOf(`${h}.${otherPayload}.${s}`)).toBe('bad_signature')
    expect(faultOf(new Hs256('another-secret-0123456789-abcdefghij').sign(claims()))).toBe('bad_signature')
    expect(faultOf(`${h}.${p}.${s.slice(0, -2)}`)).toBe('malformed')
    expect(faultOf(`${h}.${p}.${s}==`)).toBe('malformed')
    expect(faultOf(`${h}.${p}.${s}.x`)).toBe('malformed')
    expect(faultOf(`${h}.${p}`)).toBe('malformed')
    expect(faultOf('')).toBe('malformed')
    expect(faultOf('..')).toBe('malformed')
    expect(faultOf(good)).toBe('accepted')
  })

  it('refuses alg none or another alg, a critical header, and a payload that is not an object', () => {
    expect(faultOf(handMade({ alg: 'none' }, claims()))).toBe('malformed')
    expect(faultOf(handMade({ alg: 'HS512' }, claims()))).toBe('malformed')
    expect(faultOf(handMade({ alg: 'HS256', crit: ['exp'] }, claims()))).toBe('malformed')
    expect(faultOf(handMade({ alg: 'HS256' }, [1, 2]))).toBe('malformed')
    expect(faultOf(handMade({ alg: 'HS256', typ: 'JWT' }, claims()))).toBe('accepted')
  })

  it('refuses the wrong issuer or audience, a missing or passed exp, and a future nbf', () => {
    expect(faultOf(handMade({ alg: 'HS256' }, claims({ iss: 'someone' })))).toBe('wrong_claims')
    expect(faultOf(handMade({ alg: 'HS256' }, claims({ aud: 'elsewhere' })))).toBe('wrong_claims')
    expect(faultOf(handMade({ alg: 'HS256' }, claims({ exp: undefined })))).toBe('wrong_claims')
    expect(faultOf(handMade({ alg: 'HS256' }, claims({ exp: 'later' })))).toBe('wrong_claims')
    expect(faultOf(handMade({ alg: 'HS256' }, claims({ iat: 'then' })))).toBe('wrong_claims')
    expect(faultOf(handMade({ alg: 'HS256' }, claims({ exp: now() })))).toBe('expired')
    expect(faultOf(handMade({ alg: 'HS256' }, claims({ nbf: now() + 30 })))).toBe('not_yet_valid')
    expect(faultOf(handMade({ alg: 'HS256' }, claims({ nbf: now() })))).toBe('accepted')
  })

  it('a repeated token is checked from its remembered claims: the same frozen object, times checked again', () => {
    const hs2 = new Hs256(SECRET)
    const token = hs2.sign(claims({ exp: now() + 5 }))
    const first = hs2.verify(token, expect_)
    expect(hs2.verify(token, expect_)).toBe(first)
    expect(Object.isFrozen(first)).toBe(true)
    expect(() => hs2.verify(token, expect_, now() + 5)).toThrow(TokenRejected)
    expect(() => hs2.verify(token, { ...expect_, audience: 'other' })).toThrow(TokenRejected)
    // One character off is a token never seen: refused by its signature, not served from memory.
    // (The second-to-last character: the last one carries two bits the decoder may drop.)
    const forged = `${token.slice(0, -2)}${token.at(-2) === 'A' ? 'B' : 'A'}${token.slice(-1)}`
    expect(forged).not.toBe(token)
    expect(() => hs2.verify(forged, expect_)).toThrow(TokenRejected)
  })
})
