/**
 * Reads a V8 .cpuprofile (node --cpu-prof) and prints the functions with the most self time, as
 * percentages of the profile's samples: the figures quoted beside each performance fix.
 *
 *   npx tsx bench/profile-top.ts <file.cpuprofile> [count] [filter]
 *
 * `filter` keeps only samples whose stack contains a function whose name or url includes it (e.g.
 * a route's handler), and then shows the share of the whole profile those samples make.
 */
import { readFileSync } from 'node:fs'

interface ProfileNode {
  id: number
  callFrame: { functionName: string; url: string; lineNumber: number }
  children?: number[]
}
interface Profile {
  nodes: ProfileNode[]
  samples: number[]
}

const [file, countArg, filter] = process.argv.slice(2)
if (!file) throw new Error('usage: profile-top.ts <file.cpuprofile> [count] [filter]')
const profile = JSON.parse(readFileSync(file, 'utf8')) as Profile
const byId = new Map(profile.nodes.map((n) => [n.id, n]))
const parent = new Map<number, number>()
for (const n of profile.nodes) for (const c of n.children ?? []) parent.set(c, n.id)

const name = (n: ProfileNode) => {
  const f = n.callFrame
  const where = f.url
    ? `${f.url.replace(/^.*\/(node_modules|work\/wt\/[^/]+)\//, '')}:${f.lineNumber + 1}`
    : ''
  return `${f.functionName || '(anonymous)'} ${where}`.trim()
}
const inStack = (id: number, needle: string) => {
  for (let at: number | undefined = id; at !== undefined; at = parent.get(at)) {
    const f = byId.get(at)!.callFrame
    if (f.functionName.includes(needle) || f.url.includes(needle)) return true
  }
  return false
}

const self = new Map<string, number>()
let kept = 0
for (const id of profile.samples) {
  if (filter && !inStack(id, filter)) continue
  kept++
  const key = name(byId.get(id)!)
  self.set(key, (self.get(key) ?? 0) + 1)
}
const total = profile.samples.length
console.log(
  `${file}: ${total} samples${filter ? `, ${kept} (${((100 * kept) / total).toFixed(1)}%) under "${filter}"` : ''}`,
)
for (const [fn, n] of [...self].sort((a, b) => b[1] - a[1]).slice(0, Number(countArg ?? 25)))
  console.log(`${((100 * n) / total).toFixed(1).padStart(5)}%  ${fn}`)
