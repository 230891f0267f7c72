/**
 * The runtime-stream table: one row per event, one <tbody> per run of events from one source so
 * that a child flow's events read as a group, a marked row where retained history has a gap, and
 * at most MAX_ROWS rows in the DOM (older ones dropped, with a note) so a long stream cannot
 * exhaust the tab. The SDK hands over a burst synchronously; rows are added once per burst.
 */
import type { GapInfo, StreamEvent } from '@flowcast/client'
import { byId, el } from './dom.ts'
import { describeItem } from './stream-item.ts'

/** Rows kept in the DOM. */
const MAX_ROWS = 5000
/** How close to the bottom (px) still counts as "following the stream" for auto-scroll. */
const FOLLOW_SLACK = 8

function eventRow(ev: StreamEvent): HTMLTableRowElement {
  const time = new Date(ev.ts)
  const hms = time.toTimeString().slice(0, 8)
  const ms = String(time.getMilliseconds()).padStart(3, '0')
  return el(
    'tr',
    { 'data-seq': ev.seq },
    el('th', { scope: 'row' }, String(ev.seq)),
    el('td', {}, el('time', { datetime: time.toISOString() }, `${hms}.${ms}`)),
    el('td', { class: 'source' }, ev.source ?? ''),
    el('td', { class: 'data' }, describeItem(ev.data)),
  )
}

/** The event table of the watch view. */
export class EventTable {
  readonly #table = byId<HTMLTableElement>('events')
  readonly #wrap = this.#table.parentElement as HTMLElement
  #group: HTMLTableSectionElement | null = null
  #queue: StreamEvent[] = []
  #rows = 0
  #hidden = 0

  /** Queues `ev`; the rows of one burst are added together in a microtask. */
  add(ev: StreamEvent): void {
    if (this.#queue.push(ev) === 1) queueMicrotask(() => this.flush())
  }

  /** Adds the queued rows now. */
  flush(): void {
    if (this.#queue.length === 0) return
    const wrap = this.#wrap
    const following = wrap.scrollTop + wrap.clientHeight >= wrap.scrollHeight - FOLLOW_SLACK
    for (const ev of this.#queue) {
      const source = ev.source ?? ''
      if (!this.#group || this.#group.dataset.source !== source) this.#group = this.#newGroup(source)
      this.#group.append(eventRow(ev))
      this.#rows++
    }
    this.#queue = []
    this.#trim()
    byId('event-count').textContent = String(this.#rows + this.#hidden)
    if (following) wrap.scrollTop = wrap.scrollHeight
  }

  /** Marks events the server no longer retains. */
  gap(gap: GapInfo): void {
    this.flush()
    this.#group = null
    const cell = el('td', { colspan: 4 }, `events ${gap.from}–${gap.to} are no longer retained`)
    this.#table.append(el('tbody', { class: 'gap' }, el('tr', {}, cell)))
  }

  #newGroup(source: string): HTMLTableSectionElement {
    const body = el('tbody', { 'data-source': source, class: source ? 'child' : undefined })
    if (source) {
      const heading = el('th', { colspan: 4, scope: 'rowgroup' }, `child flow ${source}`)
      body.append(el('tr', { class: 'group' }, heading))
    }
    this.#table.append(body)
    return body
  }

  #trim(): void {
    while (this.#rows > MAX_ROWS) {
      const first = this.#table.querySelector('tbody tr[data-seq]')
      const body = first?.parentElement
      if (!first || !body) break
      first.remove()
      if (!body.querySelector('tr[data-seq]')) body.remove()
      this.#rows--
      this.#hidden++
    }
    if (this.#hidden === 0) return
    let note = document.getElementById('hidden-rows')
    if (!note) {
      note = el('p', { id: 'hidden-rows', class: 'help' })
      this.#wrap.before(note)
    }
    note.textContent = `${this.#hidden} earlier events are not shown.`
  }
}
