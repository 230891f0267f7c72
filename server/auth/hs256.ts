/**
 * Compact HS256 JWTs (RFC 7515/7519) signed and checked with node:crypto's HMAC over one key
 * object made once per secret. A general JOSE library re-imports the key through WebCrypto on
 * every call, which cost more than the rest of a socket's connect; this file does only what
 * flowcast's tokens need: header `{"alg":"HS256"}` (a `typ` is tolerated, anything critical is
 * not), issuer, audience, a required `exp`, and `nbf` and `iat` when present.
 *
 * Every watcher of an execution usually presents that execution's one viewer token, so the claims
 * of recently verified tokens are kept by the exact token string: a repeat skips the HMAC and the
 * JSON decoding (most of an authenticated connect), while issuer, audience and times are checked
 * again on every call.
 */
import { createHmac, createSecretKey, type KeyObject, timingSafeEqual } from 'node:crypto'

/** Why a token was refused; the caller turns it into a typed error (never echoing the token). */
export type TokenFault = 'malformed' | 'bad_signature' | 'expired' | 'not_yet_valid' | 'wrong_claims'

/** A refused token, with the reason. */
export class TokenRejected extends Error {
  readonly fault: TokenFault
  constructor(fault: TokenFault) {
    super(`token refused: ${fault}`)
    this.fault = fault
  }
}

/** The registered claims flowcast sets, plus its own. */
export interface TokenClaims {
  iss: string
  aud: string
  iat: number
  exp: number
  [claim: string]: unknown
}

// base64url of {"alg":"HS256"}: the only header flowcast mints, the same bytes jose writes.
const HEADER = Buffer.from('{"alg":"HS256"}').toString('base64url')
const SIGNATURE_BYTES = 32
/** Verified tokens remembered; the oldest is forgotten first. About 1 KB each. */
const VERIFIED_CACHE_SIZE = 1024

function decodeJson(part: string): unknown {
  // Buffer's base64url decoder skips characters outside the alphabet; a re-encode that differs
  // means the part was not canonical base64url, and such a token is refused.
  const bytes = Buffer.from(part, 'base64url')
  if (bytes.toString('base64url') !== part) throw new TokenRejected('malformed')
  try {
    return JSON.parse(bytes.toString('utf8'))
  } catch {
    throw new TokenRejected('malformed')
  }
}

function isObject(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value)
}

/** Signs and verifies HS256 tokens with one secret. */
export class Hs256 {
  readonly #key: KeyObject
  /** Token -> its claims, for tokens whose signature and shape checked out (not their times). */
  readonly #verified = new Map<string, Readonly<Record<string, unknown>>>()

  constructor(secret: string | Uint8Array) {
    this.#key = createSecretKey(typeof secret === 'string' ? Buffer.from(secret, 'utf8') : secret)
  }

  #mac(signingInput: string): Buffer {
    return createHmac('sha256', this.#key).update(signingInput).digest()
  }

  /** A signed token carrying `claims`. */
  sign(claims: TokenClaims): string {
    const input = `${HEADER}.${Buffer.from(JSON.stringify(claims)).toString('base64url')}`
    return `${input}.${this.#mac(input).toString('base64url')}`
  }

  /**
   * The claims of `token` once its signature, issuer, audience and times check out at `nowSeconds`;
   * throws TokenRejected otherwise.
   */
  verify(
    token: string,
    expect: { issuer: string; audience: string },
    nowSeconds = Math.floor(Date.now() / 1000),
  ): Readonly<Record<string, unknown>> {
    const claims = this.#verified.get(token) ?? this.#checkSigned(token)
    const { iss, aud, exp, nbf, iat } = claims
    if (iss !== expect.issuer) throw new TokenRejected('wrong_claims')
    if (!(aud === expect.audience || (Array.isArray(aud) && aud.includes(expect.audience))))
      throw new TokenRejected('wrong_claims')
    if (iat !== undefined && typeof iat !== 'number') throw new TokenRejected('wrong_claims')
    if (nbf !== undefined && (typeof nbf !== 'number' || nbf > nowSeconds))
      throw new TokenRejected('not_yet_valid')
    // Every token flowcast mints expires; one without `exp` would never, so it is refused.
    if (typeof exp !== 'number') throw new TokenRejected('wrong_claims')
    if (exp <= nowSeconds) throw new TokenRejected('expired')
    return claims
  }

  /** The claims of a token whose signature and header check out, remembered for the next call. */
  #checkSigned(token: string): Readonly<Record<string, unknown>> {
    const first = token.indexOf('.')
    const second = token.indexOf('.', first + 1)
    if (first <= 0 || second <= first + 1 || token.indexOf('.', second + 1) !== -1)
      throw new TokenRejected('malformed')
    const signature = Buffer.from(token.slice(second + 1), 'base64url')
    if (signature.length !== SIGNATURE_BYTES || signature.toString('base64url') !== token.slice(second + 1))
      throw new TokenRejected('malformed')
    // The signature first: nothing of an unsigned token is parsed beyond its shape.
    if (!timingSafeEqual(signature, this.#mac(token.slice(0, second))))
      throw new TokenRejected('bad_signature')
    const header = decodeJson(token.slice(0, first))
    if (!isObject(header) || header.alg !== 'HS256' || header.crit !== undefined)
      throw new TokenRejected('malformed')
    const claims = decodeJson(token.slice(first + 1, second))
    if (!isObject(claims)) throw new TokenRejected('malformed')
    // Frozen: every later holder of the same token gets this one object.
    Object.freeze(claims)
    if (this.#verified.size >= VERIFIED_CACHE_SIZE) this.#verified.delete(this.#verified.keys().next().value!)
    this.#verified.set(token, claims)
    return claims
  }
}
