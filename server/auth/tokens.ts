/**
 * Tokens: HS256 JWTs (auth/hs256.ts, one HMAC key object per secret) scoped to one execution or
 * `*`, with a role and an expiry. The API key starts executions and mints tokens; a token only
 * reads (viewer) or also commands (admin).
 */
import { randomBytes, timingSafeEqual } from 'node:crypto'
import { FlowcastError, isFlowcastError, Role } from '@flowcast/protocol'
import { Hs256, TokenRejected } from './hs256.ts'

/** Who is asking: the API key holder, a token holder, a stream ticket's, or everyone when auth is off. */
export interface Principal {
  kind: 'apiKey' | 'token' | 'ticket' | 'open'
  role: Role
  /** The execution the token is for, or '*' for all. */
  scope: string
  /**
   * When the rights end (the token's `exp`, seconds since the epoch: valid while now < exp);
   * undefined for the API key and with auth off, which never expire.
   */
  exp?: number
}

/** A stream ticket's claims: one execution's SSE stream, opened until `exp`, held until `until`. */
export interface Ticket {
  executionId: string
  /** The `exp` of the token it was traded for (seconds); undefined when traded for the API key. */
  until?: number
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
// Tickets are signed with the same secret for another audience, so no token check accepts one.
const TICKET_AUDIENCE = 'flowcast-sse-ticket'

/** The `details` of the `unauthorized` error for a credential that was valid and ran out. */
export const EXPIRED = { expired: true } as const

/** True when `err` refused a credential because it ran out (not because it was never valid). */
export function isExpiredRefusal(err: unknown): boolean {
  return isFlowcastError(err, 'unauthorized') && err.details === EXPIRED
}

/** Makes a random API key or secret (base64url). */
export function randomKey(bytes = 32): string {
  return randomBytes(bytes).toString('base64url')
}

// One object each (frozen): the access seam keeps one Principal per claims object.
const OPEN: Principal = Object.freeze({ kind: 'open', role: 'admin', scope: '*' })
const API_KEY_HOLDER: Principal = Object.freeze({ kind: 'apiKey', role: 'admin', scope: '*' })

/** Signs and checks tokens and the API key; `off` makes everyone an admin of everything. */
export class Auth {
  readonly off: boolean
  readonly #apiKey: Buffer | undefined
  readonly #apiKeyText: string | undefined
  readonly #tokens: Hs256 | undefined
  readonly #defaultTtl: number
  readonly #maxTtl: number
  /**
   * The Principal of each verified claims object: the token check hands out one frozen claims
   * object per remembered token, so a repeat skips the role check and the allocation (times are
   * checked by verify() on every call).
   */
  readonly #principals = new WeakMap<object, Principal>()

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
    this.#apiKeyText = config.apiKey
    this.#tokens = new Hs256(config.secret)
    this.#defaultTtl = config.defaultTtlSeconds ?? 3600
    this.#maxTtl = config.maxTtlSeconds ?? 7 * 24 * 3600
  }

  /** True when `candidate` is the API key (constant-time). */
  isApiKey(candidate: string): boolean {
    if (this.off) return true
    // Tokens are far longer than the key: most credentials are told apart without a copy.
    if (candidate.length !== this.#apiKeyText!.length) return false
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
   * Who holds `credential` (an API key or a token), synchronously. Throws `unauthorized` for a
   * missing, forged or expired one; the message never contains the credential.
   */
  authenticate(credential: string | undefined | null): Principal {
    if (this.off) return OPEN
    if (!credential) throw new FlowcastError('unauthorized', 'a token or API key is required')
    if (this.isApiKey(credential)) return API_KEY_HOLDER
    let claims: Readonly<Record<string, unknown>>
    try {
      claims = this.#tokens!.verify(credential, { issuer: ISSUER, audience: AUDIENCE })
    } catch (err) {
      if (!(err instanceof TokenRejected)) throw err
      // The socket answers an expired token with its own code (token_expired); HTTP stays 401.
      if (err.fault === 'expired')
        throw new FlowcastError('unauthorized', 'token expired', { details: EXPIRED })
      throw new FlowcastError('unauthorized', 'token is invalid')
    }
    const known = this.#principals.get(claims)
    if (known) return known
    const role = Role.safeParse(claims.role)
    const scope = claims.scope
    if (!role.success || typeof scope !== 'string' || scope.length === 0) {
      throw new FlowcastError('unauthorized', 'token claims are malformed')
    }
    const principal: Principal = Object.freeze({
      kind: 'token',
      role: role.data,
      scope,
      exp: claims.exp as number,
    })
    this.#principals.set(claims, principal)
    return principal
  }

  /**
   * Mints a stream ticket for `executionId`, usable for `ttlMs` from now (never past
   * `until`, the traded token's own expiry); empty with auth off.
   */
  mintTicket(executionId: string, ttlMs: number, until: number | undefined): { ticket: string; exp: number } {
    const now = Date.now()
    const iat = Math.floor(now / 1000)
    const exp = Math.min(
      Math.max(iat + 1, Math.floor((now + ttlMs) / 1000)),
      until ?? Number.POSITIVE_INFINITY,
    )
    if (this.off) return { ticket: '', exp }
    const claims = { iss: ISSUER, aud: TICKET_AUDIENCE, iat, exp, scope: executionId }
    return { ticket: this.#tokens!.sign(until === undefined ? claims : { ...claims, until }), exp }
  }

  /**
   * The claims of a stream ticket; throws `unauthorized` for a missing, forged or expired one, and
   * for a token or API key (a ticket is its own kind of credential).
   */
  checkTicket(ticket: string | undefined): Ticket {
    if (!ticket) throw new FlowcastError('unauthorized', 'the ticket is empty')
    let claims: Readonly<Record<string, unknown>>
    try {
      claims = this.#tokens!.verify(ticket, { issuer: ISSUER, audience: TICKET_AUDIENCE })
    } catch (err) {
      if (!(err instanceof TokenRejected)) throw err
      if (err.fault === 'expired')
        throw new FlowcastError('unauthorized', 'ticket expired', { details: EXPIRED })
      throw new FlowcastError('unauthorized', 'not a valid stream ticket')
    }
    const { scope, until } = claims
    if (typeof scope !== 'string' || scope.length === 0 || (until !== undefined && typeof until !== 'number'))
      throw new FlowcastError('unauthorized', 'ticket claims are malformed')
    return until === undefined ? { executionId: scope } : { executionId: scope, until }
  }
}

/** True while `principal`'s rights last at `nowMs` (the API key and open access always). */
export function isCurrent(principal: Principal, nowMs = Date.now()): boolean {
  return principal.exp === undefined || principal.exp * 1000 > nowMs
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
