/**
 * The start view: the server's flows (GET /api/flows), each with its description, an input box
 * holding its example input and a Start button. Starting goes to the watch view of the new
 * execution with the admin token; the viewer token waits in this tab for the share link.
 */
import { createClient, type FlowInfo, type StartResponse } from '@flowcast/client'
import { byId, el, notice } from './dom.ts'
import { API_KEY_ENTRY, load, save, viewerEntry } from './session-store.ts'
import { codeOf, messageOf } from './text.ts'

/** Shows the flow list and keeps the API key field in this tab's storage. */
export function showFlowPicker(): void {
  byId('start-view').hidden = false
  const key = byId<HTMLInputElement>('api-key')
  key.value = load(API_KEY_ENTRY) ?? ''
  key.addEventListener('input', () => save(API_KEY_ENTRY, key.value.trim()))
  key.addEventListener('change', () => void loadFlows())
  void loadFlows()
}

function apiKey(): string | undefined {
  return byId<HTMLInputElement>('api-key').value.trim() || undefined
}

async function loadFlows(): Promise<void> {
  const list = byId('flow-list')
  list.setAttribute('aria-busy', 'true')
  try {
    const client = createClient({ url: location.origin, apiKey: apiKey(), reconnect: false })
    try {
      list.replaceChildren(...(await client.flows()).map(flowItem))
    } finally {
      client.close()
    }
    notice('')
  } catch (err) {
    notice(`Could not load the flows: ${messageOf(err)}`)
  } finally {
    list.setAttribute('aria-busy', 'false')
  }
}

interface SchemaLike {
  default?: unknown
  properties?: Record<string, { default?: unknown } | undefined>
}

/** The flow's example input, else the defaults its input schema declares. */
export function exampleInput(flow: FlowInfo): unknown {
  if (flow.exampleInput !== undefined) return flow.exampleInput
  const schema = flow.contract.input as SchemaLike | undefined
  if (schema?.default !== undefined) return schema.default
  const out: Record<string, unknown> = {}
  for (const [k, p] of Object.entries(schema?.properties ?? {}))
    if (p?.default !== undefined) out[k] = p.default
  return out
}

function flowItem(flow: FlowInfo): HTMLLIElement {
  const id = `input-${flow.name.replace(/[^\w-]/g, '_')}`
  const input = el('textarea', { id, rows: 3, spellcheck: 'false', 'aria-describedby': `${id}-error` })
  input.value = JSON.stringify(exampleInput(flow), null, 1).replace(/\n\s*/g, ' ')
  const error = el('p', { id: `${id}-error`, class: 'form-error', role: 'alert' })
  const button = el('button', { type: 'submit' }, 'Start')
  const form = el(
    'form',
    { class: 'flow', 'aria-labelledby': `${id}-name`, 'data-flow': flow.name },
    el('h2', { id: `${id}-name` }, flow.name),
    flow.description ? el('p', { class: 'help description' }, flow.description) : null,
    el('label', { for: id }, 'Input (JSON)'),
    input,
    el('div', { class: 'row' }, button, el('span', { class: 'help' }, 'Ctrl+Enter starts too')),
    error,
  )
  input.addEventListener('keydown', (e) => {
    if (e.key === 'Enter' && (e.ctrlKey || e.metaKey)) form.requestSubmit()
  })
  form.addEventListener('submit', async (e) => {
    e.preventDefault()
    error.textContent = ''
    input.removeAttribute('aria-invalid')
    let value: unknown
    try {
      value = input.value.trim() === '' ? undefined : JSON.parse(input.value)
    } catch {
      input.setAttribute('aria-invalid', 'true')
      error.textContent = 'The input is not valid JSON.'
      input.focus()
      return
    }
    button.disabled = true
    button.textContent = 'Starting…'
    const client = createClient({ url: location.origin, apiKey: apiKey(), reconnect: false })
    try {
      openWatch(await client.start(flow.name, value))
    } catch (err) {
      error.textContent =
        codeOf(err) === 'invalid_input' ? `Invalid input: ${messageOf(err)}` : messageOf(err)
      if (codeOf(err) === 'unauthorized') byId('api-key').focus()
      button.disabled = false
      button.textContent = 'Start'
    } finally {
      client.close()
    }
  })
  return el('li', {}, form)
}

/** Goes to the watch URL with the admin token; the viewer token waits in this tab for "share". */
function openWatch(started: StartResponse): void {
  const id = started.executionId
  // links.watch names the origin the server saw; stay on the one this page came from.
  const watch = new URL(started.links?.watch ?? `/?execution=${encodeURIComponent(id)}`, location.href)
  const url = new URL(`${watch.pathname}${watch.search}`, location.origin)
  if (started.tokens) {
    save(viewerEntry(id), started.tokens.viewer)
    url.searchParams.set('token', started.tokens.admin)
  }
  location.assign(url.toString())
}
