/**
 * The adapter from any model's text stream to instant nodes: it parses the text as it arrives
 * (strictly, see json-parser.ts) and yields every node it reports, the root last. It knows no
 * model SDK, so a provider, a simulated model or a test's own generator all plug in the same way.
 */
import { FlowcastError } from '@flowcast/protocol'
import { InstantJsonParser } from './json-parser.ts'
import type { InstantNode } from './node.ts'

/**
 * Longest model answer the adapter reads, in characters (UTF-16 code units): a runaway model
 * cannot grow an execution's memory without bound. One million covers any structured answer a
 * chat model writes in one call (about 250k tokens).
 */
export const DEFAULT_MAX_MODEL_CHARS = 1_000_000

export interface InstantNodesOptions {
  /** @default DEFAULT_MAX_MODEL_CHARS */
  maxChars?: number
}

/**
 * Yields the nodes of the JSON document that `source` writes, in the order the parser reports
 * them; the last is the root (path []) with the whole document. Throws `invalid_json` (with the
 * position) on text that cannot be JSON, `payload_too_large` past `maxChars`.
 */
export async function* instantNodes(
  source: AsyncIterable<string>,
  options: InstantNodesOptions = {},
): AsyncGenerator<InstantNode, void, undefined> {
  const maxChars = options.maxChars ?? DEFAULT_MAX_MODEL_CHARS
  const parser = new InstantJsonParser()
  for await (const text of source) {
    if (parser.position + text.length > maxChars) {
      throw new FlowcastError('payload_too_large', `the model's answer passed ${maxChars} characters`, {
        details: { maxChars },
      })
    }
    yield* parser.push(text)
  }
  yield* parser.end().nodes
}
