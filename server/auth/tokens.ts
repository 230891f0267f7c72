/**
 * Tokens: HS256 JWTs (auth/hs256.ts, one HMAC key object per secret) scoped to one execution or
 * `*`, with a role and an expiry. The API key starts executions and mints tokens; a token only
 * reads (viewer) or also commands (admin).
 */
import { randomBytes, timingSafeEqual } from 'node:crypto'
import { FlowcastError, Role } from '@flowcast/protocol'
import { Hs256, TokenRejected } from './hs256.ts'

/** Who is asking: the API key holder, a token holder, or everyone when auth is off. */
export interface Principal {
  kind: 'apiKey' | 'token' | 'open'
  role: Role
  /** The execution the token is for, or '*' for all. */
  scope: string
}

export interface AuthConfig {
  apiKey: string
  /** HS256 secret; at least 32 bytes of entropy recommended. */
  secret: string
  /** Default token lifetime. */
  defaultTtlSeconds?: number
  /** Most a minted token may live. */
  maxTtlSeconds?: number
}

const ISSUER = 'flowcast'
const AUDIENCE = 'flowcast-stream'

/** Makes a random API key or secret (base64url). */
export function randomKey(bytes = 32): string {
  return randomBytes(bytes).toString('base64url')
}

/** Signs and checks tokens and the API key; `off` makes everyone an admin of everything. */
export class Auth {
  readonly off: boolean
  readonly #apiKey: Buffer | undefined
  readonly #tokens: Hs256 | undefined
  readonly #defaultTtl: number
  readonly #maxTtl: number

  constructor(config: AuthConfig | 'off') {
    this.off = config === 'off'
    if (config === 'off') {
      this.#defaultTtl = 3600
      this.#maxTtl = 3600
      return
    }
    if (!config.apiKey || !config.secret)
      throw new FlowcastError('bad_request', 'auth needs both apiKey and secret')
    this.#apiKey = Buffer.from(config.apiKey)
    this.#tokens = new Hs256(config.secret)
    this.#defaultTtl = config.defaultTtlSeconds ?? 3600
    this.#maxTtl = config.maxTtlSeconds ?? 7 * 24 * 3600
  }

  /** True when `candidate` is the API key (constant-time). */
  isApiKey(candidate: string): boolean {
    if (this.off) return true
    const given = Buffer.from(candidate)
    return given.length === this.#apiKey!.length && timingSafeEqual(given, this.#apiKey!)
  }

  /** Mints a token for `scope` (an execution id or '*') with `role`. */
  async mint(scope: string, role: Role, ttlSeconds = this.#defaultTtl): Promise<string> {
    if (this.off) return ''
    const ttl = Math.min(Math.max(1, Math.floor(ttlSeconds)), this.#maxTtl)
    const iat = Math.floor(Date.now() / 1000)
    return this.#tokens!.sign({ role, scope, iss: ISSUER, aud: AUDIENCE, iat, exp: iat + ttl })
  }

  /**
   * Who holds `credential` (an API key or a token). Throws `unauthorized` for a missing, forged
   * or expired one; the message never contains the credential.
   */
  async authenticate(credential: string | undefined | null): Promise<Principal> {
    if (this.off) return { kind: 'open', role: 'admin', scope: '*' }
    if (!credential) throw new FlowcastError('unauthorized', 'a token or API key is required')
    if (this.isApiKey(credential)) return { kind: 'apiKey', role: 'admin', scope: '*' }
    let claims: Record<string, unknown>
    try {
      claims = this.#tokens!.verify(credential, { issuer: ISSUER, audience: AUDIENCE })
    } catch (err) {
      if (!(err instanceof TokenRejected)) throw err
      throw new FlowcastError('unauthorized', err.fault === 'expired' ? 'token expired' : 'token is invalid')
    }
    const role = Role.safeParse(claims.role)
    const scope = claims.scope
    if (!role.success || typeof scope !== 'string' || scope.length === 0) {
      throw new FlowcastError('unauthorized', 'token claims are malformed')
    }
    return { kind: 'token', role: role.data, scope }
  }
}

/** True when `principal` may read execution `executionId`. */
export function canRead(principal: Principal, executionId: string): boolean {
  return principal.scope === '*' || principal.scope === executionId
}

/** True when `principal` may command (stop, continue) execution `executionId`. */
export function canCommand(principal: Principal, executionId: string): boolean {
  return principal.role === 'admin' && canRead(principal, executionId)
}

/** True when `principal` may start executions and mint tokens (the API key, or auth off). */
export function canAdminister(principal: Principal): boolean {
  return principal.kind === 'apiKey' || principal.kind === 'open'
}

/** Reads a bearer credential from an Authorization header value. */
export function bearer(header: string | undefined | null): string | undefined {
  if (!header) return undefined
  const m = /^Bearer\s+(\S+)\s*$/i.exec(header)
  return m?.[1]
}
