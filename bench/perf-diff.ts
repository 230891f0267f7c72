/**
 * Compares `perf record` files of bench servers (BENCH_PERF_DIR) by object, by kind (whose JS; which
 * part of V8, node or the kernel) and symbol by symbol: self samples of each, as µs per event when
 * the window's event count is given, the first file against the second, sorted by how much more
 * the first spends. Where a sampling JS profile cannot look (V8's builtins
 * and C++, GC, the kernel's socket path), this shows which side pays for what.
 *
 *   npx tsx bench/perf-diff.ts <a.perf.data> <b.perf.data> [--events 20000] [--top 40]
 */
import { execFileSync } from 'node:child_process'
import { parseArgs } from 'node:util'

const { values, positionals } = parseArgs({
  allowPositionals: true,
  options: { events: { type: 'string' }, top: { type: 'string', default: '40' } },
})
const [a, b] = positionals
if (!a || !b) throw new Error('usage: perf-diff.ts <a.perf.data> <b.perf.data> [--events N] [--top N]')
const events = values.events === undefined ? undefined : Number(values.events)
const top = Number(values.top)

interface Samples {
  bySymbol: Map<string, number>
  byObject: Map<string, number>
  byKind: Map<string, number>
  total: number
  /** Microseconds one sample stands for (perf's period, from the file's frequency). */
  periodUs: number
}

/**
 * A symbol's name across checkouts: JIT names carry the checkout's path and the function's
 * position, which differ between the checkouts compared; the file and the function's name stay.
 */
function symbolName(sym: string): string {
  return sym
    .replace(/file:\/\/\/\S*?\/(server|flows|bench|node_modules)\//, '$1/')
    .replace(/^(JS:\S+ \S+?)(:\d+)+$/, '$1')
}

/** What a symbol is: whose JS, or which part of V8, node or the kernel (`[k]`: a kernel symbol). */
function kindOf(marker: string, sym: string): string {
  if (marker === 'k') return 'kernel'
  if (sym.startsWith('JS:')) {
    if (/ (server|flows)\//.test(sym)) return 'JS: flowcast (server/, flows/)'
    if (/ bench\//.test(sym)) return 'JS: the bench (pacer, host)'
    if (/node_modules\/zod\//.test(sym)) return 'JS: zod'
    if (/node_modules\//.test(sym)) return 'JS: other packages (ws, ...)'
    return "JS: node's own (streams, net, timers)"
  }
  if (
    /Scaveng|Heap::|MarkCompact|Sweep|Evacuat|Marking|GCTracer|RememberedSet|SlotSet|MemoryChunk|PagedSpace|NewSpace|SemiSpace/.test(
      sym,
    )
  )
    return 'V8: GC'
  if (sym.includes('RecordWrite')) return 'V8: write barrier'
  if (/^Builtins_\w*IC/.test(sym)) return 'V8: inline-cache builtins (property access)'
  if (/compiler::|Turbofan|Maglev|Compile|Parser|Scanner|Bytecode/.test(sym)) return 'V8: compiler'
  if (/Json|Dtoa|DoubleToCString/.test(sym)) return 'V8: JSON'
  if (sym.startsWith('Builtins_')) return 'V8: other builtins'
  if (/^(node::|uv_|uv__)/.test(sym)) return 'node and libuv C++'
  return 'V8 other, libc'
}

/** Self samples by symbol, by object (kernel, node, JIT, libc) and by kind of one perf.data file. */
function read(file: string): Samples {
  const report = (sort: string) =>
    execFileSync('perf', ['report', '-i', file, '--stdio', '--no-children', '-n', '--sort', sort], {
      encoding: 'utf8',
      maxBuffer: 256 * 1024 * 1024,
      stdio: ['ignore', 'pipe', 'ignore'],
    })
  const bySymbol = new Map<string, number>()
  const byKind = new Map<string, number>()
  const add = (m: Map<string, number>, key: string, n: number) => m.set(key, (m.get(key) ?? 0) + n)
  // One pass over the symbol report: `[k]` marks the kernel's symbols, `[.]` everything else.
  for (const line of report('sym').split('\n')) {
    const m = /^\s+[\d.]+%\s+(\d+)\s+\[([.k])\]\s+(.*)$/.exec(line)
    if (!m) continue
    const name = symbolName(m[3]!)
    add(bySymbol, name, Number(m[1]))
    add(byKind, kindOf(m[2]!, name), Number(m[1]))
  }
  const byObject = new Map<string, number>()
  for (const line of report('dso').split('\n')) {
    const m = /^\s+[\d.]+%\s+(\d+)\s+(.*)$/.exec(line)
    if (m) add(byObject, m[2]!.startsWith('[JIT]') ? '[JIT] (JavaScript)' : m[2]!.trim(), Number(m[1]))
  }
  let total = 0
  for (const v of bySymbol.values()) total += v
  const header = execFileSync('perf', ['report', '-i', file, '--header-only'], {
    encoding: 'utf8',
    stdio: ['ignore', 'pipe', 'ignore'],
  })
  const freq = Number(/sample_freq[^\d]*(\d+)/.exec(header)?.[1] ?? 4000)
  return { bySymbol, byObject, byKind, total, periodUs: 1e6 / freq }
}

const A = read(a)
const B = read(b)
const unit = events === undefined ? 'samples' : 'µs/event'
/** `n` samples of `s` in the table's unit. */
const value = (s: Samples, n: number) => (events === undefined ? n : (n * s.periodUs) / events)
const fig = (v: number) => (events === undefined ? String(v) : v.toFixed(3))

function table(title: string, ma: Map<string, number>, mb: Map<string, number>, rows: number): void {
  // Each file's samples in its own period: the two may have been recorded at different frequencies.
  const diff = (k: string) => value(A, ma.get(k) ?? 0) - value(B, mb.get(k) ?? 0)
  const keys = [...new Set([...ma.keys(), ...mb.keys()])].sort((x, y) => diff(y) - diff(x))
  console.log(`\n${title} (${unit}: a, b, a - b)`)
  for (const k of keys.slice(0, rows)) {
    const x = fig(value(A, ma.get(k) ?? 0)).padStart(9)
    const y = fig(value(B, mb.get(k) ?? 0)).padStart(9)
    console.log(`${x} ${y} ${fig(diff(k)).padStart(9)}  ${k.slice(0, 110)}`)
  }
}

console.log(`a: ${a} (${A.total} samples)\nb: ${b} (${B.total} samples)`)
console.log(`total ${unit}: a ${fig(value(A, A.total))}, b ${fig(value(B, B.total))}`)
table('by object', A.byObject, B.byObject, 8)
table('by kind', A.byKind, B.byKind, 20)
table('by symbol, most more in a', A.bySymbol, B.bySymbol, top)
