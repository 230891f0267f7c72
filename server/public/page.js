// The watch page: the flows with a Start button, and the live view of one execution. The SDK
// bundle is its only client: flows, start, subscribe, snapshot, stop, continue, result.
import { createClient } from '/flowcast-client.js'

const $ = (id) => document.getElementById(id)
const params = new URLSearchParams(location.search)
const TERMINAL = new Set(['completed', 'failed', 'cancelled'])
/** Rows kept in the DOM; older ones are dropped so a long stream cannot exhaust the tab. */
const MAX_ROWS = 5000
const KEY_STORE = 'flowcast.apiKey'
const tokenStore = (id) => `flowcast.token.${id}`
const viewerStore = (id) => `flowcast.viewer.${id}`

/** Example inputs and one-line descriptions of the catalog flows. */
const CATALOG = {
  'stream-steps': { input: {}, about: 'The seed example: two steps, then the flow stops its own stream.' },
  nested: { input: { steps: 3 }, about: 'A parent flow whose child flow streams into the same stream.' },
  instant: {
    input: { topic: 'flowcast', sections: 3, tokenDelayMs: 15 },
    about: 'Structured nodes parsed live from a simulated model token stream.',
  },
  'long-job': {
    input: { count: 300, size: 64, intervalMs: 100 },
    about: 'A steady producer: count items, one every intervalMs.',
  },
  approval: {
    input: { request: 'Deploy v2 to production', amount: 120 },
    about: 'Pauses until an admin approves or rejects the request.',
  },
}

// sessionStorage may be disabled; the page then simply forgets on reload.
const store = {
  get(key) {
    try {
      return sessionStorage.getItem(key)
    } catch {
      return null
    }
  },
  set(key, value) {
    try {
      if (value) sessionStorage.setItem(key, value)
      else sessionStorage.removeItem(key)
    } catch {}
  },
}

/** Creates an element with attributes and children (strings become text, never HTML). */
function el(tag, attrs = {}, ...children) {
  const node = document.createElement(tag)
  for (const [k, v] of Object.entries(attrs)) {
    if (v === undefined || v === null || v === false) continue
    if (k === 'class') node.className = v
    else node.setAttribute(k, v === true ? '' : String(v))
  }
  node.append(...children.filter((c) => c !== undefined && c !== null))
  return node
}

function notice(message) {
  const n = $('notice')
  n.textContent = message
  n.hidden = !message
}

function messageOf(err) {
  if (err?.code === 'unauthorized') return 'Not authorized: the API key or token is missing, wrong or expired.'
  if (err?.code === 'forbidden') return 'Forbidden: this token does not allow that.'
  return err?.message ?? String(err)
}

/** The role claim of a JWT, for display only: the server checks the signature and enforces it. */
function tokenClaims(token) {
  try {
    const part = token.split('.')[1].replace(/-/g, '+').replace(/_/g, '/')
    return JSON.parse(atob(part.padEnd(part.length + ((4 - (part.length % 4)) % 4), '=')))
  } catch {
    return {}
  }
}

function short(text, max) {
  return text.length > max ? `${text.slice(0, max - 1)}…` : text
}

function json(value) {
  try {
    return JSON.stringify(value) ?? String(value)
  } catch {
    return String(value)
  }
}

// ---- start view --------------------------------------------------------------------------------

function showStart() {
  $('start-view').hidden = false
  const key = $('api-key')
  key.value = store.get(KEY_STORE) ?? ''
  key.addEventListener('input', () => store.set(KEY_STORE, key.value.trim()))
  key.addEventListener('change', () => loadFlows())
  loadFlows()
}

async function loadFlows() {
  const list = $('flow-list')
  list.setAttribute('aria-busy', 'true')
  try {
    const client = createClient({ url: location.origin, apiKey: $('api-key').value.trim() || undefined, reconnect: false })
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

/** An example input: the catalog's, else the defaults the flow's input schema declares. */
function exampleInput(flow) {
  if (CATALOG[flow.name]) return CATALOG[flow.name].input
  const schema = flow.contract?.input
  if (schema?.default !== undefined) return schema.default
  const out = {}
  for (const [k, p] of Object.entries(schema?.properties ?? {})) if (p?.default !== undefined) out[k] = p.default
  return out
}

function flowItem(flow) {
  const id = `input-${flow.name.replace(/[^\w-]/g, '_')}`
  const input = el('textarea', { id, rows: 3, spellcheck: 'false', 'aria-describedby': `${id}-error` })
  input.value = JSON.stringify(exampleInput(flow), null, 1).replace(/\n\s*/g, ' ')
  const error = el('p', { id: `${id}-error`, class: 'form-error', role: 'alert' })
  const button = el('button', { type: 'submit' }, 'Start')
  const form = el(
    'form',
    { class: 'flow', 'aria-labelledby': `${id}-name`, 'data-flow': flow.name },
    el('h2', { id: `${id}-name` }, flow.name),
    CATALOG[flow.name] ? el('p', { class: 'help' }, CATALOG[flow.name].about) : null,
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
    let value
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
    const apiKey = $('api-key').value.trim() || undefined
    const client = createClient({ url: location.origin, apiKey, reconnect: false })
    try {
      openWatch(await client.start(flow.name, value))
    } catch (err) {
      error.textContent = err?.code === 'invalid_input' ? `Invalid input: ${err.message}` : messageOf(err)
      if (err?.code === 'unauthorized') $('api-key').focus()
      button.disabled = false
      button.textContent = 'Start'
    } finally {
      client.close()
    }
  })
  return el('li', {}, form)
}

/** Goes to the watch URL with the admin token; the viewer token waits in this tab for "share". */
function openWatch(started) {
  const id = started.executionId
  // links.watch names the origin the server saw; stay on the one this page came from.
  const watch = new URL(started.links?.watch ?? `/?execution=${encodeURIComponent(id)}`, location.href)
  const url = new URL(`${watch.pathname}${watch.search}`, location.origin)
  if (started.tokens) {
    store.set(viewerStore(id), started.tokens.viewer)
    url.searchParams.set('token', started.tokens.admin)
  }
  location.assign(url.toString())
}

// ---- watch view --------------------------------------------------------------------------------

function watch(executionId) {
  let token = params.get('token')
  if (token) {
    // Out of the address bar (and history) at once; kept for reloads of this tab only.
    store.set(tokenStore(executionId), token)
    params.delete('token')
    history.replaceState(history.state, '', `${location.pathname}?${params}${location.hash}`)
  } else {
    token = store.get(tokenStore(executionId))
  }
  const claims = token ? tokenClaims(token) : {}
  const role = !token ? 'open' : claims.role === 'admin' || claims.role === 'viewer' ? claims.role : 'unknown'
  const isAdmin = role === 'admin' || role === 'open'
  const expired = typeof claims.exp === 'number' && claims.exp * 1000 < Date.now()

  $('watch-view').hidden = false
  $('execution-id').textContent = executionId
  $('role').textContent =
    role === 'open' ? 'admin (auth off)' : `${role}${expired ? ' (token expired)' : ''}`
  document.title = `${executionId} · flowcast`

  const state = { status: '', final: false, connection: 'connecting', streamOpen: true, rows: 0, hidden: 0 }
  const client = createClient({ url: location.origin, token: token ?? undefined })
  addEventListener('pagehide', () => client.close())

  // --- status, connection, presence
  const announce = (extra = '') => {
    const conn = $('connection').textContent
    $('live-status').textContent = `Status ${state.status || 'unknown'}, ${conn}.${extra ? ` ${extra}` : ''}`
  }
  const setStatus = (status) => {
    if (!status || (state.final && !TERMINAL.has(status)) || status === state.status) return
    state.status = status
    state.final = TERMINAL.has(status)
    $('status').textContent = status
    $('status').dataset.status = status
    document.title = `${status} · ${executionId} · flowcast`
    if (state.final) clearInterrupts()
    announce()
  }
  const CONNECTION_TEXT = { connecting: 'connecting…', open: 'connected', reconnecting: 'reconnecting…', closed: 'closed' }
  const setConnection = (s) => {
    state.connection = s
    $('connection').textContent = CONNECTION_TEXT[s] ?? s
    $('connection').dataset.state = s
    announce()
  }
  client.onConnectionState(setConnection)
  setConnection(client.connectionState)

  // --- the event table: one <tbody> per run of events from one source, so child flows group
  const table = $('events')
  const wrap = table.parentElement
  let group = null
  let queue = []
  const newGroup = (source) => {
    const body = el('tbody', { 'data-source': source, class: source ? 'child' : undefined })
    if (source) body.append(el('tr', { class: 'group' }, el('th', { colspan: 4, scope: 'rowgroup' }, `child flow ${source}`)))
    table.append(body)
    return body
  }
  const flush = () => {
    const atBottom = wrap.scrollTop + wrap.clientHeight >= wrap.scrollHeight - 8
    for (const ev of queue) {
      const source = ev.source ?? ''
      if (!group || group.dataset.source !== source) group = newGroup(source)
      group.append(eventRow(ev))
      state.rows++
    }
    queue = []
    trimRows()
    $('event-count').textContent = String(state.rows + state.hidden)
    if (atBottom) wrap.scrollTop = wrap.scrollHeight
  }
  const trimRows = () => {
    while (state.rows > MAX_ROWS) {
      const first = table.querySelector('tbody tr[data-seq]')
      const body = first.parentElement
      first.remove()
      if (!body.querySelector('tr[data-seq]')) body.remove()
      state.rows--
      state.hidden++
    }
    if (state.hidden > 0) {
      let note = $('hidden-rows')
      if (!note) {
        note = el('p', { id: 'hidden-rows', class: 'help' })
        wrap.before(note)
      }
      note.textContent = `${state.hidden} earlier events are not shown.`
    }
  }
  const onEvent = (ev) => {
    trackInterrupt(ev.data)
    // The SDK hands over a burst synchronously; one DOM update per burst.
    if (queue.push(ev) === 1) queueMicrotask(flush)
  }
  const onGap = (gap) => {
    flush()
    group = null
    table.append(
      el('tbody', { class: 'gap' }, el('tr', {}, el('td', { colspan: 4 }, `events ${gap.from}–${gap.to} are no longer retained`))),
    )
  }
  const onEnd = (info) => {
    flush()
    state.streamOpen = false
    $('stop').disabled = true
    const end = $('stream-end')
    const how =
      info.reason === 'stopped' ? `stopped${info.by ? ` by ${info.by}` : ''}` : `the execution ${info.reason}`
    end.textContent = `Stream ended (${how}) after seq ${info.lastSeq}.`
    end.dataset.reason = info.reason
    end.hidden = false
    $('subscribers').textContent = '–'
    announce('The stream ended.')
  }

  // --- interrupts (admin only: a viewer could not answer them anyway)
  const pending = new Map()
  const answered = new Set()
  const trackInterrupt = (data) => {
    if (!isAdmin || data?.type !== 'interrupt' || !data.interrupt?.id) return
    if (data.action === 'pause') addInterrupt(data.interrupt)
    else if (data.action === 'resume') {
      answered.add(data.interrupt.id)
      removeInterrupt(data.interrupt.id)
    }
  }
  const addInterrupt = (info) => {
    if (!isAdmin || state.final || pending.has(info.id) || answered.has(info.id)) return
    const item = interruptItem(info, async (value, setError) => {
      try {
        await client.continue(executionId, info.id, value)
        answered.add(info.id)
        removeInterrupt(info.id)
        announce('Answer sent.')
      } catch (err) {
        setError(messageOf(err))
      }
    })
    pending.set(info.id, item)
    $('interrupt-list').append(item)
    $('interrupts').hidden = false
  }
  const removeInterrupt = (id) => {
    pending.get(id)?.remove()
    pending.delete(id)
    $('interrupts').hidden = pending.size === 0
  }
  const clearInterrupts = () => {
    for (const id of [...pending.keys()]) removeInterrupt(id)
  }

  // --- admin: stop
  const stop = $('stop')
  stop.hidden = !isAdmin
  stop.addEventListener('click', async () => {
    stop.disabled = true
    try {
      const out = await client.stopStream(executionId)
      announce(out.alreadyStopped ? 'The stream was already stopped.' : 'Stream stopped.')
    } catch (err) {
      notice(`Stop failed: ${messageOf(err)}`)
      stop.disabled = !state.streamOpen
    }
  })

  setupShare(executionId, role, token)

  // --- the subscription, the snapshot, the result
  let subscription = null
  subscription = client.subscribe(executionId, {
    onEvent,
    onGap,
    onEnd,
    onStatus: setStatus,
    onPresence: (n) => {
      if (state.streamOpen) $('subscribers').textContent = String(n)
    },
    onError: (err) => {
      // Repaired or retried errors are the SDK's business; one that ended the subscription is ours.
      if (subscription?.ended || ['unauthorized', 'forbidden', 'not_found'].includes(err.code)) {
        notice(err.code === 'not_found' ? `No execution ${executionId} (it may have expired).` : messageOf(err))
      }
    },
  })

  client
    .snapshot(executionId)
    .then((snap) => {
      $('flow-name').textContent = snap.flow ? `(${snap.flow})` : ''
      setStatus(snap.status)
      if (snap.status === 'failed' && snap.error) showError(snap.error)
      for (const info of snap.pendingInterrupts ?? []) addInterrupt(info)
    })
    .catch((err) => {
      if (!['unauthorized', 'forbidden', 'not_found'].includes(err.code)) return
      notice(err.code === 'not_found' ? `No execution ${executionId} (it may have expired).` : messageOf(err))
      // A browser cannot tell a refused upgrade from a network error, so the SDK would retry for
      // ever; the server has said no, so stop here.
      client.close()
    })

  awaitResult(client, executionId, setStatus)
}

/** Long-polls the result until the execution ends (retrying over network trouble), then shows it. */
async function awaitResult(client, executionId, setStatus) {
  for (let delay = 500; ; ) {
    let out
    try {
      out = await client.result(executionId, { wait: 30_000 })
    } catch (err) {
      if (err?.code === 'connection_closed' && client.connectionState === 'closed') return
      if (['unauthorized', 'forbidden', 'not_found'].includes(err?.code)) return
      await new Promise((r) => setTimeout(r, delay))
      delay = Math.min(delay * 2, 5000)
      continue
    }
    setStatus(out.status)
    if (!TERMINAL.has(out.status)) continue
    if (out.status === 'failed') return showError(out.error)
    const panel = $('result-panel')
    const pre = $('result')
    pre.dataset.status = out.status
    pre.textContent =
      out.status === 'completed'
        ? JSON.stringify(out.result, null, 2)
        : `The execution was cancelled${out.error ? `: ${out.error.message}` : '.'}`
    panel.hidden = false
    return
  }
}

function showError(error) {
  $('error-message').textContent = `${error?.code ?? 'error'}: ${error?.message ?? 'unknown error'}`
  $('error-panel').dataset.code = error?.code ?? ''
  $('error-panel').hidden = false
}

function eventRow(ev) {
  const time = new Date(ev.ts)
  const hms = time.toTimeString().slice(0, 8)
  return el(
    'tr',
    { 'data-seq': ev.seq },
    el('th', { scope: 'row' }, String(ev.seq)),
    el('td', {}, el('time', { datetime: time.toISOString() }, `${hms}.${String(time.getMilliseconds()).padStart(3, '0')}`)),
    el('td', { class: 'source' }, ev.source ?? ''),
    el('td', { class: 'data' }, describe(ev.data)),
  )
}

/** A readable rendering of one stream item: key/value pairs for objects, interrupts spelled out. */
function describe(data) {
  if (data?.type === 'interrupt' && data.interrupt) {
    const i = data.interrupt
    if (data.action === 'pause') {
      const question = i.payload?.question ?? (i.payload === undefined ? '' : json(i.payload))
      return el('span', {}, el('span', { class: 'tag wait' }, 'waiting'), ` ${i.type}: ${short(question, 160)}`)
    }
    return el('span', {}, el('span', { class: 'tag ok' }, 'answered'), ` ${i.type}: ${short(json(data.value), 160)}`)
  }
  if (data && typeof data === 'object' && !Array.isArray(data)) {
    const out = el('span', { class: 'kvs' })
    for (const [k, v] of Object.entries(data)) {
      const text = typeof v === 'string' ? v : json(v)
      const value = el('span', { class: 'v' }, short(text, 80))
      if (text.length > 80) value.title = text
      out.append(el('span', { class: 'kv' }, el('span', { class: 'k' }, k), ' ', value))
    }
    return out
  }
  const text = json(data)
  const node = el('span', {}, short(text, 200))
  if (text.length > 200) node.title = text
  return node
}

function interruptItem(info, send) {
  const id = `answer-${info.id}`
  const error = el('p', { class: 'form-error', role: 'alert' })
  const setError = (m) => {
    error.textContent = m
  }
  const answer = el('textarea', { id, rows: 2, spellcheck: 'false' })
  answer.value = info.type === 'approval' ? '{"approved": true, "note": "looks good"}' : 'null'
  const question = info.payload?.question ?? (info.payload === undefined ? '' : json(info.payload))
  const buttons = el('div', { class: 'row' })
  const run = async (value) => {
    setError('')
    for (const b of buttons.querySelectorAll('button')) b.disabled = true
    await send(value, setError)
    for (const b of buttons.querySelectorAll('button')) b.disabled = false
  }
  if (info.type === 'approval') {
    const approve = el('button', { type: 'button', class: 'ok' }, 'Approve')
    const reject = el('button', { type: 'button', class: 'danger' }, 'Reject')
    approve.addEventListener('click', () => run({ approved: true }))
    reject.addEventListener('click', () => run({ approved: false }))
    buttons.append(approve, reject)
  }
  const submit = el('button', { type: 'button' }, 'Send answer')
  submit.addEventListener('click', () => {
    let value
    try {
      value = JSON.parse(answer.value)
    } catch {
      setError('The answer is not valid JSON.')
      answer.focus()
      return
    }
    run(value)
  })
  buttons.append(submit)
  return el(
    'li',
    { 'data-interrupt': info.id },
    el('p', {}, el('strong', {}, info.type), question ? ` ${question}` : ''),
    el('label', { for: id }, 'Answer (JSON)'),
    answer,
    buttons,
    error,
  )
}

function setupShare(executionId, role, token) {
  const button = $('share')
  const panel = $('share-panel')
  const url = new URL(`/?execution=${encodeURIComponent(executionId)}`, location.origin)
  const viewerToken = role === 'viewer' ? token : store.get(viewerStore(executionId))
  let note
  if (role === 'open') note = 'Auth is off: anyone who can reach this server can watch (and stop).'
  else if (viewerToken) {
    url.searchParams.set('token', viewerToken)
    note = 'Anyone with this link can watch until its token expires; they cannot stop the stream or answer.'
  } else note = 'No viewer token is known in this tab: mint one with POST /api/tokens.'
  $('share-url').value = url.toString()
  $('share-note').textContent = note
  button.addEventListener('click', () => {
    panel.hidden = !panel.hidden
    button.setAttribute('aria-expanded', String(!panel.hidden))
    if (!panel.hidden) $('share-url').select()
  })
  $('copy-share').addEventListener('click', async () => {
    $('share-url').select()
    try {
      await navigator.clipboard.writeText($('share-url').value)
      $('share-note').textContent = `Copied. ${note}`
    } catch {
      $('share-note').textContent = `Press Ctrl+C to copy. ${note}`
    }
  })
}

const executionId = params.get('execution')
if (executionId) watch(executionId)
else showStart()
