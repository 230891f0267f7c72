/**
 * The instant JSON parser beside @streamparser/json, on the same chunks in the same run: a model
 * outline in 1-6 character tokens (what a chunk sees from a real model) and a 200 KB document in
 * 64-character pieces. Both report partial strings and every complete value; ours also builds
 * each node's path array, @streamparser/json's callback only counts. Rounds alternate the two
 * parsers so machine load falls on both alike; the table shows medians.
 *
 *   npx tsx bench/instant-parser.ts [--rounds 7]
 */
import { JSONParser } from '@streamparser/json'
import { simulatedTokens } from '../flows/catalog/simulated-model.ts'
import { InstantJsonParser } from '../flows/instant/json-parser.ts'

interface Workload {
  name: string
  chunks: string[]
  chars: number
}

function split(text: string, size: number): string[] {
  const out: string[] = []
  for (let i = 0; i < text.length; i += size) out.push(text.slice(i, i + size))
  return out
}

function largeDocument(): string {
  const items = Array.from({ length: 600 }, (_, i) => ({
    id: i,
    title: `Item ${i}: a "quoted" title with escapes \\ and unicode é ✓`,
    score: i * 1.25 - 300,
    tags: ['alpha', 'beta', 'gamma'].slice(0, 1 + (i % 3)),
    done: i % 2 === 0,
    owner: i % 5 === 0 ? null : { name: `owner-${i}`, since: 1_700_000_000 + i },
    body: 'lorem ipsum dolor sit amet '.repeat(4),
  }))
  return JSON.stringify({ items }, null, 1)
}

function workloads(): Workload[] {
  const tokens = simulatedTokens('benchmarks', 8)
  const big = largeDocument()
  return [
    { name: 'model outline, 1-6 char tokens', chunks: tokens, chars: tokens.join('').length },
    { name: '200 KB document, 64-char pieces', chunks: split(big, 64), chars: big.length },
  ]
}

type Parse = (chunks: string[]) => number

const ours: Parse = (chunks) => {
  const parser = new InstantJsonParser()
  let nodes = 0
  for (const chunk of chunks) nodes += parser.push(chunk).length
  return nodes + parser.end().nodes.length
}

const theirs: Parse = (chunks) => {
  const parser = new JSONParser({ emitPartialTokens: true, emitPartialValues: true })
  let nodes = 0
  parser.onValue = () => {
    nodes++
  }
  for (const chunk of chunks) parser.write(chunk)
  // It ends by itself once the root value closes; end() then would throw.
  if (!parser.isEnded) parser.end()
  return nodes
}

/** Characters per second over at least `ms` of back-to-back parses. */
function measure(parse: Parse, w: Workload, ms: number): number {
  let runs = 0
  const start = performance.now()
  let elapsed = 0
  while (elapsed < ms) {
    parse(w.chunks)
    runs++
    elapsed = performance.now() - start
  }
  return (runs * w.chars) / (elapsed / 1000)
}

const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]!
const rounds = Number(process.argv[process.argv.indexOf('--rounds') + 1]) || 7

console.log(`node ${process.version}, ${rounds} rounds of 300 ms per parser and workload, medians`)
console.log('')
console.log(
  '| workload | nodes (ours / @streamparser/json) | flowcast MB/s | @streamparser/json MB/s | ratio |',
)
console.log('| --- | --- | --- | --- | --- |')
for (const w of workloads()) {
  // Warm both up, and check they agree the text is one document.
  for (let i = 0; i < 50; i++) {
    ours(w.chunks)
    theirs(w.chunks)
  }
  const a: number[] = []
  const b: number[] = []
  for (let r = 0; r < rounds; r++) {
    if (r % 2 === 0) {
      a.push(measure(ours, w, 300))
      b.push(measure(theirs, w, 300))
    } else {
      b.push(measure(theirs, w, 300))
      a.push(measure(ours, w, 300))
    }
  }
  const mbs = (x: number) => (x / 1e6).toFixed(1)
  console.log(
    `| ${w.name} | ${ours(w.chunks)} / ${theirs(w.chunks)} | ${mbs(median(a))} | ${mbs(median(b))} | ${(median(a) / median(b)).toFixed(2)}x |`,
  )
}
