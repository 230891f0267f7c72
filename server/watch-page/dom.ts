/**
 * The few DOM helpers every part of the watch page uses: find an element of index.html by id (a
 * missing one is a bug in the page, so it throws), build elements whose text is never parsed as
 * HTML, and show or clear the page-wide notice.
 */

type Attrs = Record<string, string | number | boolean | undefined | null>
type Child = Node | string | undefined | null

/** The element of index.html with this id, as the type the caller expects. */
export function byId<T extends HTMLElement = HTMLElement>(id: string): T {
  const node = document.getElementById(id)
  if (!node) throw new Error(`the page has no #${id}`)
  return node as T
}

/** Creates an element with attributes and children (strings become text, never HTML). */
export function el<K extends keyof HTMLElementTagNameMap>(
  tag: K,
  attrs: Attrs = {},
  ...children: Child[]
): HTMLElementTagNameMap[K] {
  const node = document.createElement(tag)
  for (const [k, v] of Object.entries(attrs)) {
    if (v === undefined || v === null || v === false) continue
    if (k === 'class') node.className = String(v)
    else node.setAttribute(k, v === true ? '' : String(v))
  }
  node.append(...children.filter((c): c is Node | string => c !== undefined && c !== null))
  return node
}

/** Shows `message` in the page-wide notice; an empty message hides it. */
export function notice(message: string): void {
  const n = byId('notice')
  n.textContent = message
  n.hidden = !message
}
