/**
 * The "Waiting for an answer" panel (admins only: a viewer could not answer anyway): one form per
 * pending interrupt, learnt from the snapshot and from the stream's pause items, removed when the
 * stream says it was answered (here or elsewhere) or the execution ends.
 */
import { byId, el } from './dom.ts'
import { type InterruptInfo, isInterruptItem, questionOf } from './stream-item.ts'

/** Sends an answer; resolves with an error message to show, or undefined when it was accepted. */
export type SendAnswer = (info: InterruptInfo, value: unknown) => Promise<string | undefined>

/** The pending interrupts of one execution. */
export class InterruptPanel {
  readonly #pending = new Map<string, HTMLLIElement>()
  readonly #answered = new Set<string>()
  #enabled: boolean
  readonly #send: SendAnswer

  /** A disabled panel (a viewer's page) never shows anything. */
  constructor(enabled: boolean, send: SendAnswer) {
    this.#enabled = enabled
    this.#send = send
  }

  /** Follows the stream: a pause item adds its interrupt, a resume item removes it. */
  track(data: unknown): void {
    if (!this.#enabled || !isInterruptItem(data)) return
    if (data.action === 'pause') this.add(data.interrupt)
    else this.answered(data.interrupt.id)
  }

  /** Shows `info`, unless it is shown already or was answered. */
  add(info: InterruptInfo): void {
    if (!this.#enabled || this.#pending.has(info.id) || this.#answered.has(info.id)) return
    const item = this.#item(info)
    this.#pending.set(info.id, item)
    byId('interrupt-list').append(item)
    byId('interrupts').hidden = false
  }

  /** Removes interrupt `id` for good. */
  answered(id: string): void {
    this.#answered.add(id)
    this.#pending.get(id)?.remove()
    this.#pending.delete(id)
    byId('interrupts').hidden = this.#pending.size === 0
  }

  /** Removes every pending interrupt for good: the execution has ended, nothing can be answered. */
  close(): void {
    this.#enabled = false
    for (const id of [...this.#pending.keys()]) this.answered(id)
  }

  #item(info: InterruptInfo): HTMLLIElement {
    const id = `answer-${info.id}`
    const error = el('p', { class: 'form-error', role: 'alert' })
    const answer = el('textarea', { id, rows: 2, spellcheck: 'false' })
    answer.value = info.type === 'approval' ? '{"approved": true, "note": "looks good"}' : 'null'
    const question = questionOf(info)
    const buttons = el('div', { class: 'row' })
    const run = async (value: unknown) => {
      error.textContent = ''
      for (const b of buttons.querySelectorAll('button')) b.disabled = true
      const failure = await this.#send(info, value)
      if (failure === undefined) this.answered(info.id)
      else error.textContent = failure
      for (const b of buttons.querySelectorAll('button')) b.disabled = false
    }
    if (info.type === 'approval') {
      const approve = el('button', { type: 'button', class: 'ok' }, 'Approve')
      const reject = el('button', { type: 'button', class: 'danger' }, 'Reject')
      approve.addEventListener('click', () => void run({ approved: true }))
      reject.addEventListener('click', () => void run({ approved: false }))
      buttons.append(approve, reject)
    }
    const submit = el('button', { type: 'button' }, 'Send answer')
    submit.addEventListener('click', () => {
      let value: unknown
      try {
        value = JSON.parse(answer.value)
      } catch {
        error.textContent = 'The answer is not valid JSON.'
        answer.focus()
        return
      }
      void run(value)
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
}
