/**
 * A deterministic stand-in for a model that streams JSON: the same topic always gives the same
 * outline and the same token split, so demos and tests are repeatable without a network.
 */

const WORDS = (
  'signal stream chunk event state result flow branch token node outline cursor retention ' +
  'replay socket room subscriber gap seq envelope handler interrupt approval contract schema ' +
  'batch collect match trigger bridge child parent pause resume budget latency backlog'
).split(' ')

const HEADINGS = [
  'Overview',
  'How it works',
  'Trade-offs',
  'Failure modes',
  'Operations',
  'Next steps',
  'Glossary',
  'FAQ',
]

/** A small seeded PRNG (mulberry32): enough spread for filler text, fully repeatable. */
function prng(seed: number): () => number {
  let a = seed >>> 0
  return () => {
    a = (a + 0x6d2b79f5) >>> 0
    let t = a
    t = Math.imul(t ^ (t >>> 15), t | 1)
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61)
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296
  }
}

function hash(text: string): number {
  let h = 2166136261
  for (let i = 0; i < text.length; i++) h = Math.imul(h ^ text.charCodeAt(i), 16777619)
  return h >>> 0
}

export interface Outline {
  title: string
  sections: { heading: string; body: string }[]
}

/** The outline the simulated model "writes" for `topic`. */
export function simulatedOutline(topic: string, sections: number): Outline {
  const rand = prng(hash(topic))
  const pick = () => WORDS[Math.floor(rand() * WORDS.length)]!
  return {
    title: `${topic}: a field guide`,
    sections: Array.from({ length: sections }, (_, i) => {
      const words = Array.from({ length: 8 + Math.floor(rand() * 10) }, pick)
      const body = `${words.join(' ')}.`
      return { heading: HEADINGS[i % HEADINGS.length]!, body: body[0]!.toUpperCase() + body.slice(1) }
    }),
  }
}

/** The outline with bullet points the simulated model "writes" for `topic` (the `model-outline` flow). */
export function simulatedBulletOutline(
  topic: string,
  sections: number,
  bullets: number,
): { title: string; sections: { heading: string; bullets: string[] }[] } {
  const rand = prng(hash(`${topic}#bullets`))
  const pick = () => WORDS[Math.floor(rand() * WORDS.length)]!
  return {
    title: `${topic}: an outline`,
    sections: Array.from({ length: sections }, (_, i) => ({
      heading: HEADINGS[i % HEADINGS.length]!,
      bullets: Array.from({ length: bullets }, () =>
        Array.from({ length: 3 + Math.floor(rand() * 5) }, pick).join(' '),
      ),
    })),
  }
}

/** Splits `text` into tokens of 1 to 6 characters, the same split for the same `seed`. */
export function tokenize(text: string, seed: string): string[] {
  const rand = prng(hash(seed))
  const tokens: string[] = []
  for (let i = 0; i < text.length; ) {
    const n = 1 + Math.floor(rand() * 6)
    tokens.push(text.slice(i, i + n))
    i += n
  }
  return tokens
}

/** Splits the model's JSON answer for `topic` into tokens of 1 to 6 characters. */
export function simulatedTokens(topic: string, sections: number): string[] {
  return tokenize(JSON.stringify(simulatedOutline(topic, sections), null, 1), `${topic}#tokens`)
}

/** Yields `tokens` with `delayMs` between them; stops early when `signal` aborts. */
export async function* playTokens(
  tokens: string[],
  options: { delayMs: number; signal: AbortSignal },
): AsyncGenerator<string> {
  for (const token of tokens) {
    if (options.signal.aborted) return
    if (options.delayMs > 0) await new Promise((r) => setTimeout(r, options.delayMs))
    yield token
  }
}

/** The simulated outline for `topic` as a token stream, `delayMs` between tokens. */
export function simulatedModelStream(
  topic: string,
  sections: number,
  options: { delayMs: number; signal: AbortSignal },
): AsyncGenerator<string> {
  return playTokens(simulatedTokens(topic, sections), options)
}
