/**
 * Turns the medians into the one table the issue asks for: a column per server, the flowcast
 * ratios beside them, the issue's goal for those ratios, and an exactness row. Markdown, so the
 * same text reads in a terminal and pastes into the README.
 */
import type { Row } from './scenarios.ts'
import type { TargetName } from './targets.ts'

export interface Exactness {
  lost: number
  repeated: number
  reordered: number
  extra: number
  dropped: number
  failedSubscribes: number
  incomplete: number
}

export interface TableInput {
  rows: Row[]
  /** Median per row key `${scenario}/${metric}` and target; undefined when not measured. */
  value(row: Row, target: TargetName): number | undefined
  present: Set<TargetName>
  exactness: Map<TargetName, Exactness>
}

const COLUMNS: TargetName[] = ['flowcast', 'ws', 'ws-batch', 'socket.io']

export function renderTable(input: TableInput): string {
  const header = ['metric', ...COLUMNS, 'flowcast/ws', 'flowcast/ws-batch', 'flowcast/socket.io', 'goal']
  const lines: string[][] = []
  for (const row of input.rows) {
    const cells = COLUMNS.map((t) => cell(input, row, t))
    const fc = input.present.has('flowcast') ? input.value(row, 'flowcast') : undefined
    lines.push([
      row.label,
      ...cells,
      ratio(fc, input.value(row, 'ws')),
      ratio(fc, input.value(row, 'ws-batch')),
      ratio(fc, input.value(row, 'socket.io')),
      row.goal ?? '',
    ])
  }
  lines.push([
    'exactness: lost / repeated / reordered (must be 0)',
    ...COLUMNS.map((t) => {
      const e = input.exactness.get(t)
      if (!input.present.has(t) || !e) return 'n/a'
      const base = `${e.lost} / ${e.repeated} / ${e.reordered}`
      const more = [
        e.extra ? `${e.extra} extra` : '',
        e.dropped ? `${e.dropped} dropped` : '',
        e.failedSubscribes ? `${e.failedSubscribes} failed subscribes` : '',
        e.incomplete ? `${e.incomplete} incomplete phases` : '',
      ].filter(Boolean)
      return more.length ? `${base} (${more.join(', ')})` : base
    }),
    '',
    '',
    '',
    '0 / 0 / 0',
  ])
  return markdown(header, lines)
}

function cell(input: TableInput, row: Row, t: TargetName): string {
  if (!input.present.has(t)) return 'n/a'
  const v = input.value(row, t)
  return v === undefined ? 'err' : format(v, row.metric)
}

function format(v: number, metric: Row['metric']): string {
  switch (metric) {
    case 'rate':
      return v >= 1e6 ? `${(v / 1e6).toFixed(2)}M` : v >= 1e3 ? `${(v / 1e3).toFixed(1)}k` : v.toFixed(0)
    case 'rssPerSub':
      return v.toFixed(1)
    default:
      return v >= 100 ? v.toFixed(0) : v >= 10 ? v.toFixed(1) : v >= 1 ? v.toFixed(2) : v.toFixed(3)
  }
}

function ratio(a: number | undefined, b: number | undefined): string {
  if (a === undefined || b === undefined || b === 0) return 'n/a'
  return `${(a / b).toFixed(2)}x`
}

function markdown(header: string[], lines: string[][]): string {
  const widths = header.map((h, i) => Math.max(h.length, ...lines.map((l) => (l[i] ?? '').length)))
  const fmt = (cells: string[]) =>
    `| ${cells.map((c, i) => (i === 0 ? c.padEnd(widths[i]!) : c.padStart(widths[i]!))).join(' | ')} |`
  const rule = `|${widths.map((w, i) => (i === 0 ? `:${'-'.repeat(w + 1)}` : `${'-'.repeat(w + 1)}:`)).join('|')}|`
  return [fmt(header), rule, ...lines.map(fmt)].join('\n')
}
