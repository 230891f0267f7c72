/**
 * Puts instant nodes into an execution's runtime stream and turns complete nodes into business
 * events: UIs watch the nodes fill in, while `when` handlers hear only of values that are whole.
 * A closed runtime stream (an admin's stop) drops the items but never stops the model or the flow.
 */
import type { InstantNode, InstantNodeItem } from './node.ts'
import { type InstantNodesOptions, instantNodes } from './nodes.ts'

/** What the helper needs of a chunk's runtime data (any RuntimeData has it). */
export interface NodeSink {
  putIntoStream(item: InstantNodeItem): Promise<boolean>
  emit(event: string, value?: unknown): Promise<void>
}

export interface PutNodesOptions extends InstantNodesOptions {
  /**
   * Which nodes go into the runtime stream.
   * @default every node but the root (the root is the whole answer: the result carries it)
   */
  filter?: (node: InstantNode) => boolean
  /** The event to emit for a complete node, or undefined for none; the event's value is the node item. */
  eventOf?: (node: InstantNode) => string | undefined
  /** The model call's attempt number, put on every item. @default 1 */
  attempt?: number
}

const notRoot = (node: InstantNode) => node.path.length > 0

/**
 * Reads `source` as a JSON document, puts its nodes into the stream, emits `eventOf(node)` once
 * per complete node (awaiting its handlers, so their items follow the node), and returns the
 * parsed document.
 */
export async function putInstantNodes(
  data: NodeSink,
  source: AsyncIterable<string>,
  options: PutNodesOptions = {},
): Promise<unknown> {
  const filter = options.filter ?? notRoot
  const attempt = options.attempt ?? 1
  let root: unknown
  for await (const node of instantNodes(source, options)) {
    const item: InstantNodeItem = { type: 'node', ...node, attempt }
    if (filter(node)) await data.putIntoStream(item)
    if (!node.isComplete) continue
    if (node.path.length === 0) root = node.value
    const event = options.eventOf?.(node)
    if (event !== undefined) await data.emit(event, item)
  }
  return root
}
