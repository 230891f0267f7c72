/**
 * The access seam: routes and the socket hub ask a Principal what it may do and never look at
 * credentials themselves; the resolver below is the only code that reads a token or API key.
 */
import type { IncomingMessage } from 'node:http'
import { FlowcastError, type Role } from '@flowcast/protocol'
import {
  type Auth,
  bearer,
  type Principal as Claims,
  canAdminister,
  canCommand,
  canRead,
  isCurrent,
} from './tokens.ts'

/** Who is asking, as far as permissions go. */
export interface Principal {
  /** `apiKey`, `token` or `open` (auth off); for logs, never the credential itself. */
  readonly kind: Claims['kind']
  readonly role: Role
  /** The execution the credential is for, or '*'. */
  readonly scope: string
  /** When the rights end (seconds since the epoch; valid while now < exp); undefined: never. */
  readonly exp: number | undefined
  /** False once the credential has run out (a socket's token outlives its check). */
  isCurrent(nowMs?: number): boolean
  /** Subscribe, read history, SSE and results of this execution. */
  canRead(executionId: string): boolean
  /** Stop the stream and continue interrupts of this execution. */
  canCommand(executionId: string): boolean
  /** Start executions and mint tokens. */
  canStart(): boolean
}

/** Turns a request into a Principal; throws FlowcastError('unauthorized') to refuse it. */
export interface AccessResolver {
  /** False when auth is off (every client is admin of everything). */
  readonly enabled: boolean
  /** From `Authorization: Bearer <token | API key>`. */
  fromHttp(headers: Headers): Promise<Principal>
  /**
   * From the upgrade's `?token=`; undefined when auth is on and no token was given, so the
   * socket has to send an `auth` frame first. Synchronous (the check is an in-process HMAC, and
   * usually a cache hit): the upgrade is answered in the parser's callback, as bare `ws` does,
   * without a promise and its closures per socket.
   */
  fromUpgrade(req: IncomingMessage): Principal | undefined
  /** From a token sent in an `auth` frame. */
  fromToken(token: string): Promise<Principal>
  /** Mints a token for one execution (or '*'); undefined when auth is off. */
  mint(scope: string, role: Role, ttlSeconds?: number): Promise<string | undefined>
  /**
   * Trades `principal` (who may read `executionId`) for a stream ticket valid `ttlMs` and never
   * past the principal's own expiry (`exp` in seconds); undefined when auth is off.
   */
  mintTicket(
    principal: Principal,
    executionId: string,
    ttlMs: number,
  ): { ticket: string; exp: number } | undefined
  /**
   * From a stream ticket (`?ticket=` of the SSE route only): a viewer of its one execution until
   * the traded token's expiry. Throws `unauthorized` for anything else, a token included.
   */
  fromTicket(ticket: string | undefined): Principal
}

/**
 * The Principal of one set of claims. A class rather than an object of four closures: made once
 * per authenticated socket or request, where the closures (and tsx's names for them) were 29 µs of
 * a `?token=` connect's profile.
 */
class ClaimsPrincipal implements Principal {
  readonly kind: Claims['kind']
  readonly role: Role
  readonly scope: string
  readonly exp: number | undefined
  readonly #claims: Claims

  constructor(claims: Claims) {
    this.#claims = claims
    this.kind = claims.kind
    this.role = claims.role
    this.scope = claims.scope
    this.exp = claims.exp
  }

  isCurrent(nowMs?: number): boolean {
    return isCurrent(this.#claims, nowMs)
  }

  canRead(executionId: string): boolean {
    return canRead(this.#claims, executionId)
  }

  canCommand(executionId: string): boolean {
    return canCommand(this.#claims, executionId)
  }

  canStart(): boolean {
    return canAdminister(this.#claims)
  }
}

/**
 * Principals by their claims object: Auth hands out one frozen object per verified token while
 * that token is remembered, so the watchers of an execution, who present its one viewer token,
 * share one Principal (it holds no state of its own; expiry is checked on every authenticate).
 */
const principals = new WeakMap<Claims, Principal>()

function principalOf(claims: Claims): Principal {
  let principal = principals.get(claims)
  if (!principal) {
    principal = new ClaimsPrincipal(claims)
    principals.set(claims, principal)
  }
  return principal
}

const everyone = principalOf({ kind: 'open', role: 'admin', scope: '*' })

/** `auth: 'off'`: every client is admin of everything. */
export function openAccess(): AccessResolver {
  return {
    enabled: false,
    fromHttp: async () => everyone,
    fromUpgrade: () => everyone,
    fromToken: async () => everyone,
    mint: async () => undefined,
    mintTicket: () => undefined,
    fromTicket: () => everyone,
  }
}

/** Token auth: the API key or a signed token, checked by `auth`. */
export function tokenAccess(auth: Auth): AccessResolver {
  const check = (credential: string | undefined) => principalOf(auth.authenticate(credential))
  return {
    enabled: true,
    fromHttp: async (headers) => check(bearer(headers.get('authorization'))),
    fromUpgrade(req) {
      const token = tokenParam(req.url)
      // `?token=` present but empty is a missing token, not a request for the auth-frame path.
      if (token === undefined) return undefined
      return check(token)
    },
    fromToken: async (token) => check(token),
    mint: (scope, role, ttlSeconds) => auth.mint(scope, role, ttlSeconds),
    mintTicket: (principal, executionId, ttlMs) => auth.mintTicket(executionId, ttlMs, principal.exp),
    fromTicket(ticket) {
      const { executionId, until } = auth.checkTicket(ticket)
      const claims: Claims = { kind: 'ticket', role: 'viewer', scope: executionId }
      if (until !== undefined) claims.exp = until
      return new ClaimsPrincipal(claims)
    },
  }
}

/** The `token` query parameter of a request URL (the first, as URLSearchParams reads it); undefined when absent. */
export function tokenParam(url: string | undefined): string | undefined {
  const q = url?.indexOf('?') ?? -1
  if (q < 0) return undefined
  const query = url!.slice(q + 1)
  // A plain query (no escapes, '+', '#' or '?') is split by hand: URLSearchParams was half of the
  // token check's JavaScript in a connect; anything else goes through it, to decode as it does.
  const value = /[%+#?]/.test(query) ? new URLSearchParams(query).get('token') : plainParam(query, 'token')
  if (value === null) return undefined
  if (value === '') throw new FlowcastError('unauthorized', 'the token is empty')
  return value
}

/** The first value of `name` in a query without escapes; null when absent. */
function plainParam(query: string, name: string): string | null {
  for (let at = 0; at <= query.length; ) {
    let end = query.indexOf('&', at)
    if (end < 0) end = query.length
    const eq = query.indexOf('=', at)
    const keyEnd = eq >= 0 && eq < end ? eq : end
    if (keyEnd - at === name.length && query.startsWith(name, at))
      return keyEnd === end ? '' : query.slice(keyEnd + 1, end)
    at = end + 1
  }
  return null
}
