/**
 * How one runtime-stream item reads in the event table: interrupts spelled out (waiting /
 * answered), objects as key/value pairs, anything else as shortened JSON with the full text in
 * the tooltip.
 */
import { el } from './dom.ts'
import { json, short } from './text.ts'

/** An interrupt as the engine describes it in snapshots and stream items. */
export interface InterruptInfo {
  id: string
  type: string
  payload?: unknown
}

/** The stream item the engine puts when an execution pauses on, or resumes from, an interrupt. */
export interface InterruptItem {
  type: 'interrupt'
  action: 'pause' | 'resume'
  interrupt: InterruptInfo
  value?: unknown
}

/** True when `data` is an interrupt item of the engine. */
export function isInterruptItem(data: unknown): data is InterruptItem {
  const d = data as Partial<InterruptItem> | null
  return (
    d?.type === 'interrupt' &&
    (d.action === 'pause' || d.action === 'resume') &&
    typeof d.interrupt?.id === 'string'
  )
}

/** The question an interrupt asks: its payload's `question`, else its payload as JSON. */
export function questionOf(info: InterruptInfo): string {
  const question = (info.payload as { question?: unknown } | null | undefined)?.question
  if (typeof question === 'string') return question
  return info.payload === undefined ? '' : json(info.payload)
}

/** The table cell content for one stream item. */
export function describeItem(data: unknown): HTMLSpanElement {
  if (isInterruptItem(data)) {
    const i = data.interrupt
    if (data.action === 'pause')
      return el(
        'span',
        {},
        el('span', { class: 'tag wait' }, 'waiting'),
        ` ${i.type}: ${short(questionOf(i), 160)}`,
      )
    return el(
      'span',
      {},
      el('span', { class: 'tag ok' }, 'answered'),
      ` ${i.type}: ${short(json(data.value), 160)}`,
    )
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
