/**
 * The browser's hints about the link: `offline` drops the socket at once (it cannot be alive),
 * `online` and a page turning visible reconnect at once instead of after the backoff (or, when the
 * socket is open, ping so that a link that died while hidden is found out soon).
 */
import type { Environment } from './types.ts'

export interface EnvironmentHooks {
  offline(): void
  /** The network is back or the page is visible again. */
  wake(): void
}

/** Starts listening; returns the function that stops. Outside browsers (no window) does nothing. */
export function watchEnvironment(env: Environment | undefined, hooks: EnvironmentHooks): () => void {
  const g = globalThis as { window?: EventTarget; document?: Environment['document'] }
  const win = env ? env.window : g.window
  const doc = env ? env.document : g.document
  const offline = (): void => hooks.offline()
  const online = (): void => hooks.wake()
  const visibility = (): void => {
    if (doc?.visibilityState !== 'hidden') hooks.wake()
  }
  win?.addEventListener('offline', offline)
  win?.addEventListener('online', online)
  doc?.addEventListener('visibilitychange', visibility)
  return () => {
    win?.removeEventListener('offline', offline)
    win?.removeEventListener('online', online)
    doc?.removeEventListener('visibilitychange', visibility)
  }
}
