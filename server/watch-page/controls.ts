/**
 * The watch view's buttons: Stop stream (admins only) and the share panel, whose link carries a
 * viewer token (read-only access) when this tab knows one.
 */
import type { FlowcastClient } from '@flowcast/client'
import { byId, notice } from './dom.ts'
import { load, viewerEntry } from './session-store.ts'
import { messageOf } from './text.ts'
import type { PageRole } from './token-role.ts'

/** Wires the Stop button; `streamOpen` says whether to re-enable it after a failed stop. */
export function setupStop(
  client: FlowcastClient,
  executionId: string,
  isAdmin: boolean,
  announce: (extra: string) => void,
  streamOpen: () => boolean,
): void {
  const stop = byId<HTMLButtonElement>('stop')
  stop.hidden = !isAdmin
  stop.addEventListener('click', async () => {
    stop.disabled = true
    try {
      const out = await client.stopStream(executionId)
      announce('alreadyStopped' in out ? 'The stream was already stopped.' : 'Stream stopped.')
    } catch (err) {
      notice(`Stop failed: ${messageOf(err)}`)
      stop.disabled = !streamOpen()
    }
  })
}

/** Wires the share panel: a link for viewers, and a note on what it grants. */
export function setupShare(executionId: string, role: PageRole, token: string | null): void {
  const button = byId('share')
  const panel = byId('share-panel')
  const field = byId<HTMLInputElement>('share-url')
  const noteLine = byId('share-note')
  const url = new URL(`/?execution=${encodeURIComponent(executionId)}`, location.origin)
  const viewerToken = role === 'viewer' ? token : load(viewerEntry(executionId))
  let note: string
  if (role === 'open') note = 'Auth is off: anyone who can reach this server can watch (and stop).'
  else if (viewerToken) {
    url.searchParams.set('token', viewerToken)
    note = 'Anyone with this link can watch until its token expires; they cannot stop the stream or answer.'
  } else note = 'No viewer token is known in this tab: mint one with POST /api/tokens.'
  field.value = url.toString()
  noteLine.textContent = note
  button.addEventListener('click', () => {
    panel.hidden = !panel.hidden
    button.setAttribute('aria-expanded', String(!panel.hidden))
    if (!panel.hidden) field.select()
  })
  byId('copy-share').addEventListener('click', async () => {
    field.select()
    try {
      await navigator.clipboard.writeText(field.value)
      noteLine.textContent = `Copied. ${note}`
    } catch {
      noteLine.textContent = `Press Ctrl+C to copy. ${note}`
    }
  })
}
