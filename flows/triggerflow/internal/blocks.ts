/**
 * What a block (batch, forEach, match, an inline chain) runs per slot and what it yields once
 * every slot is filled; pure functions over the frozen graph and the saved invocation.
 */
import type { GraphNode } from '../graph.ts'
import type { SavedInvocation } from '../snapshot.ts'

/** The body and value a block slot runs. */
export function slotEntry(node: GraphNode, inv: SavedInvocation, slot: string): [readonly string[], unknown] {
  switch (node.kind) {
    case 'batch':
      return [node.branches.find((b) => b.name === slot)?.entry ?? [], inv.input]
    case 'forEach':
      return [node.entry, (inv.input as unknown[])[Number(slot)]]
    case 'match':
      return [
        slot === 'else' ? (node.otherwise ?? []) : (node.cases[Number(slot.slice(5))]?.entry ?? []),
        inv.input,
      ]
    case 'inline':
      return [node.entry, inv.input]
    default:
      return [[], inv.input]
  }
}

/** The output of a full block: one value, the list in slot order, or the map by slot name. */
export function blockOutput(inv: SavedInvocation): unknown {
  if (inv.shape === 'single') return inv.slots[inv.expected[0]!]
  if (inv.shape === 'array') return inv.expected.map((s) => inv.slots[s])
  return Object.fromEntries(inv.expected.map((s) => [s, inv.slots[s]]))
}
