/**
 * The role a watch token claims, read without checking its signature: for display only (which
 * controls to show). The server checks the signature and enforces the role on every request.
 */

/** `open` = no token (auth off); `unknown` = a token whose role claim the page does not know. */
export type PageRole = 'admin' | 'viewer' | 'open' | 'unknown'

export interface TokenView {
  role: PageRole
  /** True when the page offers admin controls (stop, answers). */
  isAdmin: boolean
  /** True when the token's `exp` claim has passed. */
  expired: boolean
}

function claimsOf(token: string): Record<string, unknown> {
  try {
    const part = (token.split('.')[1] ?? '').replace(/-/g, '+').replace(/_/g, '/')
    const claims: unknown = JSON.parse(atob(part.padEnd(part.length + ((4 - (part.length % 4)) % 4), '=')))
    return claims && typeof claims === 'object' ? (claims as Record<string, unknown>) : {}
  } catch {
    return {}
  }
}

/** What the page shows for a watch with `token` (or none). */
export function tokenView(token: string | null): TokenView {
  if (!token) return { role: 'open', isAdmin: true, expired: false }
  const claims = claimsOf(token)
  const role: PageRole = claims.role === 'admin' || claims.role === 'viewer' ? claims.role : 'unknown'
  const expired = typeof claims.exp === 'number' && claims.exp * 1000 < Date.now()
  return { role, isAdmin: role === 'admin', expired }
}
