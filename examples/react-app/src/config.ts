/**
 * What the app watches, read from its query string so one build serves every case:
 * `?server=<flowcast URL>&execution=<id>&panels=3&tokens=<token endpoint>&admin=1`.
 */

/** The app's settings. */
export interface AppConfig {
  /** Base URL of the flowcast server (default: the page's own origin). */
  server: string
  /** The execution every panel watches. */
  execution: string
  /** The watcher panels sharing the one client, by name (`?panels=3` makes w1, w2, w3). */
  panels: string[]
  /**
   * Your backend's token endpoint (`GET ?execution=&role=&reason=` → `{ token }`); absent when the server
   * runs with auth off. The app never puts a token in a URL of its own.
   */
  tokens: string | undefined
  /** Show the admin bar (Stop stream, with an admin token from the endpoint). */
  admin: boolean
}

/** Reads the settings from `search` (the page's query string). */
export function readConfig(search: string, origin: string): AppConfig {
  const q = new URLSearchParams(search)
  const asked = Number(q.get('panels') ?? 3)
  const count = Number.isInteger(asked) && asked >= 0 && asked <= 12 ? asked : 3
  return {
    server: q.get('server') ?? origin,
    execution: q.get('execution') ?? '',
    panels: Array.from({ length: count }, (_, k) => `w${k + 1}`),
    tokens: q.get('tokens') ?? undefined,
    admin: q.get('admin') === '1',
  }
}

/** Asks the token endpoint for a `role` token of `executionId` (`reason`: why the client asks). */
export async function fetchToken(
  endpoint: string,
  executionId: string,
  role: 'viewer' | 'admin',
  reason = 'connect',
): Promise<string> {
  const url = new URL(endpoint, location.href)
  url.searchParams.set('execution', executionId)
  url.searchParams.set('role', role)
  url.searchParams.set('reason', reason)
  const res = await fetch(url)
  if (!res.ok) throw new Error(`token endpoint answered ${res.status}`)
  return ((await res.json()) as { token: string }).token
}
