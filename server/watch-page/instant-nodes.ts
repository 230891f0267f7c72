/**
 * The nodes panel: a model's answer as it fills in. Every `{ type: 'node' }` item of the stream
 * (instant nodes, see flows/instant) updates one row per leaf (a string grows in place, a number
 * or literal appears whole), so a watcher reads the document rather than the token log. A retry's
 * nodes (a higher `attempt`) start the panel afresh: the earlier attempt's answer was abandoned.
 */
import { byId, el } from './dom.ts'
import { short } from './text.ts'

interface NodeItem {
  type: 'node'
  path: (string | number)[]
  value: unknown
  isComplete: boolean
  attempt?: number
}

/** True when `data` is an instant node item. */
export function isNodeItem(data: unknown): data is NodeItem {
  const d = data as Partial<NodeItem> | null
  return d?.type === 'node' && Array.isArray(d.path) && typeof d.isComplete === 'boolean'
}

/** `['sections', 1, 'heading']` as `sections[1].heading`, for reading only (keys may hold dots). */
function label(path: (string | number)[]): string {
  return path.map((p, i) => (typeof p === 'number' ? `[${p}]` : i === 0 ? p : `.${p}`)).join('')
}

/** The panel of one watch view. */
export class NodesPanel {
  readonly #panel = byId('nodes-panel')
  readonly #list = byId<HTMLUListElement>('node-list')
  readonly #rows = new Map<string, HTMLElement>()
  #attempt = 0

  /** Shows the node if `data` is one; containers are left to their leaves. */
  track(data: unknown): void {
    if (!isNodeItem(data) || (typeof data.value === 'object' && data.value !== null)) return
    const attempt = data.attempt ?? 1
    if (attempt > this.#attempt) {
      this.#attempt = attempt
      this.#rows.clear()
      this.#list.replaceChildren()
      this.#panel.dataset.attempt = String(attempt)
    }
    this.#panel.hidden = false
    const key = JSON.stringify(data.path)
    let value = this.#rows.get(key)
    if (!value) {
      value = el('span', { class: 'v' })
      const row = el('li', { 'data-path': key }, el('span', { class: 'k' }, label(data.path)), ' ', value)
      this.#rows.set(key, value)
      this.#list.append(row)
    }
    const text = typeof data.value === 'string' ? data.value : JSON.stringify(data.value)
    value.textContent = short(text, 400)
    value.parentElement!.dataset.complete = String(data.isComplete)
  }
}
