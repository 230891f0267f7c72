/**
 * The watch view of one execution: takes the token out of the address bar, subscribes through the
 * SDK and wires the facts line, the event table, the nodes panel (a model's answer), the interrupt
 * panel, the controls and the result panels to it. The SDK bundle is the page's only client.
 */
import { createClient, type EndInfo, type SubscriptionHandle } from '@flowcast/client'
import { ConnectionView } from './connection-state.ts'
import { setupShare, setupStop } from './controls.ts'
import { byId, notice } from './dom.ts'
import { EventTable } from './event-table.ts'
import { NodesPanel } from './instant-nodes.ts'
import { InterruptPanel } from './interrupts.ts'
import { awaitResult, showError } from './result-panel.ts'
import { load, save, tokenEntry } from './session-store.ts'
import { codeOf, isRefusal, messageOf } from './text.ts'
import { tokenView } from './token-role.ts'

/** The token for this watch: from the address bar (moved into this tab's storage), else stored. */
function takeToken(executionId: string, params: URLSearchParams): string | null {
  const token = params.get('token')
  if (!token) return load(tokenEntry(executionId))
  // Out of the address bar (and history) at once; kept for reloads of this tab only.
  save(tokenEntry(executionId), token)
  params.delete('token')
  history.replaceState(history.state, '', `${location.pathname}?${params}${location.hash}`)
  return token
}

/** The notice for an error by which the server refused this watch. */
function refusalNotice(executionId: string, err: unknown): void {
  notice(codeOf(err) === 'not_found' ? `No execution ${executionId} (it may have expired).` : messageOf(err))
}

/** Shows the watch view of `executionId`. */
export function showWatch(executionId: string, params: URLSearchParams): void {
  const token = takeToken(executionId, params)
  const { role, isAdmin, expired } = tokenView(token)

  byId('watch-view').hidden = false
  byId('execution-id').textContent = executionId
  byId('role').textContent =
    role === 'open' ? 'admin (auth off)' : `${role}${expired ? ' (token expired)' : ''}`
  document.title = `${executionId} · flowcast`

  const client = createClient({ url: location.origin, token: token ?? undefined })
  addEventListener('pagehide', () => client.close())

  let streamOpen = true
  const interrupts = new InterruptPanel(isAdmin, async (info, value) => {
    try {
      await client.continue(executionId, info.id, value)
      facts.announce('Answer sent.')
      return undefined
    } catch (err) {
      return messageOf(err)
    }
  })
  const facts = new ConnectionView(executionId, () => interrupts.close())
  client.onConnectionState((state) => facts.setConnection(state))
  facts.setConnection(client.connectionState)

  const table = new EventTable()
  const nodes = new NodesPanel()
  const onEnd = (info: EndInfo) => {
    table.flush()
    streamOpen = false
    byId<HTMLButtonElement>('stop').disabled = true
    const end = byId('stream-end')
    const how =
      info.reason === 'stopped' ? `stopped${info.by ? ` by ${info.by}` : ''}` : `the execution ${info.reason}`
    end.textContent = `Stream ended (${how}) after seq ${info.lastSeq}.`
    end.dataset.reason = info.reason
    end.hidden = false
    byId('subscribers').textContent = '–'
    facts.announce('The stream ended.')
  }

  setupStop(
    client,
    executionId,
    isAdmin,
    (extra) => facts.announce(extra),
    () => streamOpen,
  )
  setupShare(executionId, role, token)

  let subscription: SubscriptionHandle | null = null
  subscription = client.subscribe(executionId, {
    onEvent: (ev) => {
      interrupts.track(ev.data)
      nodes.track(ev.data)
      table.add(ev)
    },
    onGap: (gap) => table.gap(gap),
    onEnd,
    onStatus: (status) => facts.setStatus(status),
    onPresence: (n) => {
      if (streamOpen) byId('subscribers').textContent = String(n)
    },
    onError: (err) => {
      // Repaired or retried errors are the SDK's business; one that ended the subscription is ours.
      if (subscription?.ended || isRefusal(err)) refusalNotice(executionId, err)
    },
  })

  client
    .snapshot(executionId)
    .then((snap) => {
      byId('flow-name').textContent = snap.flow ? `(${snap.flow})` : ''
      facts.setStatus(snap.status)
      if (snap.status === 'failed' && snap.error) showError(snap.error)
      for (const info of snap.pendingInterrupts ?? []) interrupts.add(info)
    })
    .catch((err: unknown) => {
      if (!isRefusal(err)) return
      refusalNotice(executionId, err)
      // A browser cannot tell a refused upgrade from a network error, so the SDK would retry for
      // ever; the server has said no, so stop here.
      client.close()
    })

  void awaitResult(client, executionId, (status) => facts.setStatus(status))
}
