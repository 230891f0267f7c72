/**
 * What the page keeps in this tab's sessionStorage: the API key typed on the flow list and the
 * tokens of executions started here. sessionStorage may be disabled; the page then simply forgets
 * on reload.
 */

/** The API key typed on the flow list. */
export const API_KEY_ENTRY = 'flowcast.apiKey'
/** The token this tab watches execution `id` with (moved out of the address bar). */
export const tokenEntry = (id: string): string => `flowcast.token.${id}`
/** The viewer token minted with execution `id`, kept for the share link. */
export const viewerEntry = (id: string): string => `flowcast.viewer.${id}`

/** Reads an entry; null when absent or when storage is unavailable. */
export function load(key: string): string | null {
  try {
    return sessionStorage.getItem(key)
  } catch {
    return null
  }
}

/** Writes an entry; an empty value removes it. */
export function save(key: string, value: string | null | undefined): void {
  try {
    if (value) sessionStorage.setItem(key, value)
    else sessionStorage.removeItem(key)
  } catch {
    // Storage disabled or full: the page works on, it just forgets on reload.
  }
}
