/**
 * The import graph of the workspace packages, read from the sources with TypeScript's parser (no
 * type-checking, so it is fast and sees exactly what is written), and the dependency rules it must
 * obey. The rules live here as data; test/packages/dependencies.test.ts runs them over the real
 * tree and over a tree with planted violations, so that the check itself is known to bite.
 */
import { existsSync, readdirSync, readFileSync, statSync } from 'node:fs'
import { builtinModules } from 'node:module'
import { dirname, join, relative, resolve, sep } from 'node:path'
import ts from 'typescript'

/** One import as written: a static import or export, a dynamic `import()`, or an `import('x').T` type. */
export interface ImportEdge {
  /** The importing file, relative to the root, with `/` separators. */
  from: string
  specifier: string
  /** Erased from the JavaScript: `import type`, `export type`, or an import type in a type position. */
  typeOnly: boolean
  dynamic: boolean
  line: number
}

/** What a unit (a package, or a bundled app inside one) may import. */
export interface UnitRules {
  /** The folder, relative to the root; a unit nested in another is not part of the outer one. */
  dir: string
  /** Package names it may never import, even for types. */
  forbid?: string[]
  /** Package names it may import for types only (`import type`), never at run time. */
  typesOnly?: string[]
  /** When set, the only bare specifiers it may import (subpaths included), besides its own package list. */
  only?: string[]
  /** Node built-ins (`node:fs` ...) are refused: the unit runs in browsers. */
  browser?: boolean
  /** Its bare imports need not be declared: it is bundled at build time, nothing is installed for it. */
  bundled?: boolean
  /**
   * Layers from the bottom up: folders (or files) of the unit, `.` for the files at its top level; an
   * array is several folders at one level. A file may import its own layer and those below, never
   * one above. The most specific entry wins.
   */
  layers?: (string | string[])[]
  /** Files or folders that stand above the unit's index.ts (executables that use its public API). */
  aboveIndex?: string[]
}

/** Dynamic imports that may leave their package, with why: dev-only paths the package never takes. */
export interface Exemption {
  from: RegExp
  specifier: RegExp
  why: string
}

const SOURCE = /\.(ts|tsx|mts)$/
const BUILTINS = new Set(builtinModules)

/** The source files of `dir` (recursively), skipping dist/, node_modules/ and declarations. */
export function sourceFiles(dir: string, skip: Set<string> = new Set()): string[] {
  const out: string[] = []
  for (const name of readdirSync(dir)) {
    const path = join(dir, name)
    if (name === 'dist' || name === 'node_modules' || skip.has(path)) continue
    if (statSync(path).isDirectory()) out.push(...sourceFiles(path, skip))
    else if (SOURCE.test(name) && !name.endsWith('.d.ts')) out.push(path)
  }
  return out
}

/** Every import `file` writes, type-only ones marked. */
export function importsOf(root: string, file: string): ImportEdge[] {
  const text = readFileSync(file, 'utf8')
  const source = ts.createSourceFile(file, text, ts.ScriptTarget.Latest, true)
  const from = relative(root, file).split(sep).join('/')
  const edges: ImportEdge[] = []
  const add = (node: ts.Node, spec: ts.Expression, typeOnly: boolean, dynamic: boolean) => {
    if (!ts.isStringLiteralLike(spec)) return
    const line = source.getLineAndCharacterOfPosition(node.getStart(source)).line + 1
    edges.push({ from, specifier: spec.text, typeOnly, dynamic, line })
  }
  const visit = (node: ts.Node) => {
    if (ts.isImportDeclaration(node)) {
      // With verbatimModuleSyntax, `import { type A } from 'x'` still loads 'x': only `import type` is erased.
      add(node, node.moduleSpecifier, node.importClause?.isTypeOnly ?? false, false)
    } else if (ts.isExportDeclaration(node) && node.moduleSpecifier) {
      add(node, node.moduleSpecifier, node.isTypeOnly, false)
    } else if (ts.isImportTypeNode(node)) {
      const arg = node.argument
      if (ts.isLiteralTypeNode(arg)) add(node, arg.literal, true, false)
    } else if (ts.isCallExpression(node) && node.expression.kind === ts.SyntaxKind.ImportKeyword) {
      const [spec] = node.arguments
      if (spec) add(node, spec, false, true)
    }
    ts.forEachChild(node, visit)
  }
  visit(source)
  return edges
}

/** A package's name for a bare specifier: `@scope/name/sub` -> `@scope/name`, `zod/v4` -> `zod`. */
export function packageOf(specifier: string): string {
  const parts = specifier.split('/')
  return specifier.startsWith('@') ? parts.slice(0, 2).join('/') : parts[0]!
}

interface Manifest {
  name: string
  exports?: Record<string, string | { types?: string; default?: string }>
  dependencies?: Record<string, string>
  peerDependencies?: Record<string, string>
}

interface Unit extends UnitRules {
  abs: string
  manifest?: Manifest
  files: string[]
}

/** The workspace packages: name -> (export subpath -> source file, absolute). */
function workspaceEntries(root: string): Map<string, Map<string, string>> {
  const rootManifest = JSON.parse(readFileSync(join(root, 'package.json'), 'utf8')) as {
    workspaces: string[]
  }
  const out = new Map<string, Map<string, string>>()
  for (const ws of rootManifest.workspaces) {
    const manifest = JSON.parse(readFileSync(join(root, ws, 'package.json'), 'utf8')) as Manifest
    const entries = new Map<string, string>()
    for (const [sub, target] of Object.entries(manifest.exports ?? {})) {
      const js = typeof target === 'string' ? target : target.default
      if (!js) continue
      // ./dist/catalog/index.js is built from ./catalog/index.ts.
      entries.set(sub, resolve(root, ws, js.replace(/^\.\/dist\//, './').replace(/\.js$/, '.ts')))
    }
    out.set(manifest.name, entries)
  }
  return out
}

/** The file a specifier names, when it is one of ours; undefined for an outside package. */
function resolveTarget(
  file: string,
  specifier: string,
  entries: Map<string, Map<string, string>>,
): string | undefined {
  if (specifier.startsWith('.')) return resolve(dirname(file), specifier)
  const pkg = entries.get(packageOf(specifier))
  if (!pkg) return undefined
  return pkg.get(`.${specifier.slice(packageOf(specifier).length)}`) ?? `${specifier} (not exported)`
}

/** The layer of `file` in `unit` (its level, and the entry that matched), or undefined when none does. */
function layerOf(unit: Unit, file: string): { level: number; entry: string } | undefined {
  const rel = relative(unit.abs, file).split(sep).join('/')
  let best: { level: number; entry: string } | undefined
  ;(unit.layers ?? []).forEach((layer, level) => {
    for (const entry of typeof layer === 'string' ? [layer] : layer) {
      const hit =
        entry === '.' ? !rel.includes('/') : rel === entry || rel.startsWith(`${entry.replace(/\/$/, '')}/`)
      const length = entry === '.' ? 0 : entry.length
      if (hit && (!best || length > (best.entry === '.' ? 0 : best.entry.length))) best = { level, entry }
    }
  })
  return best
}

/** Whether `file` is one of the unit's executables that use its public API (a file or a folder of them). */
function isAboveIndex(unit: Unit, file: string): boolean {
  const rel = relative(unit.abs, file).split(sep).join('/')
  return (unit.aboveIndex ?? []).some((entry) => rel === entry || rel.startsWith(`${entry}/`))
}

/** Strongly connected components of size > 1 (or a file importing itself): the import circles. */
function circles(graph: Map<string, Set<string>>): string[][] {
  let next = 0
  const index = new Map<string, number>()
  const low = new Map<string, number>()
  const stack: string[] = []
  const onStack = new Set<string>()
  const found: string[][] = []
  const connect = (v: string) => {
    index.set(v, next)
    low.set(v, next)
    next++
    stack.push(v)
    onStack.add(v)
    for (const w of graph.get(v) ?? []) {
      if (!index.has(w)) {
        connect(w)
        low.set(v, Math.min(low.get(v)!, low.get(w)!))
      } else if (onStack.has(w)) low.set(v, Math.min(low.get(v)!, index.get(w)!))
    }
    if (low.get(v) === index.get(v)) {
      const scc: string[] = []
      let w: string
      do {
        w = stack.pop()!
        onStack.delete(w)
        scc.push(w)
      } while (w !== v)
      if (scc.length > 1 || graph.get(v)?.has(v)) found.push(scc.sort())
    }
  }
  for (const v of [...graph.keys()].sort()) if (!index.has(v)) connect(v)
  return found
}

/** Every broken rule in the tree at `root`, one readable line each; empty when the tree obeys them all. */
export function checkDependencies(root: string, rules: UnitRules[], exemptions: Exemption[] = []): string[] {
  const problems: string[] = []
  const entries = workspaceEntries(root)
  const units: Unit[] = rules.map((r) => {
    const abs = resolve(root, r.dir)
    const manifestPath = join(abs, 'package.json')
    const manifest = existsSync(manifestPath)
      ? (JSON.parse(readFileSync(manifestPath, 'utf8')) as Manifest)
      : undefined
    return { ...r, abs, manifest, files: [] }
  })
  for (const unit of units) {
    if (!existsSync(unit.abs)) {
      problems.push(`${unit.dir}/: no such folder (the rules name it)`)
      continue
    }
    const nested = new Set(
      units.filter((u) => u !== unit && u.abs.startsWith(unit.abs + sep)).map((u) => u.abs),
    )
    unit.files = sourceFiles(unit.abs, nested)
  }
  const unitOf = (file: string) =>
    units
      .filter((u) => file === u.abs || file.startsWith(u.abs + sep))
      .sort((a, b) => b.abs.length - a.abs.length)[0]
  const rel = (file: string) => relative(root, file).split(sep).join('/')
  const graph = new Map<string, Set<string>>()

  for (const unit of units) {
    const declared = new Set([
      ...Object.keys(unit.manifest?.dependencies ?? {}),
      ...Object.keys(unit.manifest?.peerDependencies ?? {}),
    ])
    const indexFiles = [...(entries.get(unit.manifest?.name ?? '')?.values() ?? [])]
    for (const file of unit.files) {
      const edges = new Set<string>()
      graph.set(rel(file), edges)
      for (const edge of importsOf(root, file)) {
        const at = `${edge.from}:${edge.line}`
        const spec = edge.specifier
        const target = resolveTarget(file, spec, entries)
        if (target && !target.includes('(not exported)')) edges.add(rel(target))

        if (spec.startsWith('.')) {
          const inside = unitOf(target!) === unit
          const exempt = exemptions.some(
            (e) => edge.dynamic && e.from.test(edge.from) && e.specifier.test(spec),
          )
          if (!inside && !exempt) problems.push(`${at}: ${spec} leaves ${unit.dir}/`)
          // The index of a folder that holds the file re-exports the file's own neighbours: upward.
          if (
            inside &&
            /\/index\.tsx?$/.test(target!) &&
            (file.startsWith(dirname(target!) + sep) || dirname(file) === dirname(target!)) &&
            !isAboveIndex(unit, file)
          )
            problems.push(`${at}: imports ${spec}, the index of its own folder (upward)`)
          const [a, b] = [layerOf(unit, file), inside ? layerOf(unit, target!) : undefined]
          if (a && b && b.level > a.level)
            problems.push(`${at}: ${a.entry} imports ${spec} from the layer above it (${b.entry})`)
          continue
        }
        const name = spec.startsWith('node:') ? 'node:' : packageOf(spec)
        if (name === 'node:' || BUILTINS.has(spec)) {
          if (unit.browser) problems.push(`${at}: ${spec} is a Node built-in; ${unit.dir} runs in browsers`)
          continue
        }
        if (name === unit.manifest?.name || (target && indexFiles.includes(target)))
          problems.push(`${at}: imports its own package ${spec} (upward)`)
        // One line per import: a forbidden one is not also reported as undeclared.
        if (unit.forbid?.includes(name)) problems.push(`${at}: ${unit.dir} may not import ${name}`)
        else if (unit.typesOnly?.includes(name) && !edge.typeOnly)
          problems.push(`${at}: ${unit.dir} may import ${name} for types only (import type)`)
        else if (unit.only && !unit.only.includes(name))
          problems.push(`${at}: ${unit.dir} may import only ${unit.only.join(', ')}, not ${name}`)
        else if (!unit.bundled && name !== unit.manifest?.name && !declared.has(name))
          problems.push(`${at}: ${name} is imported but not a dependency in ${unit.dir}/package.json`)
        if (target?.includes('(not exported)')) problems.push(`${at}: ${spec} is not in ${name}'s exports`)
      }
    }
    // A declared dependency nothing imports is weight every installer carries.
    if (!unit.bundled && unit.manifest) {
      const used = new Set(unit.files.flatMap((f) => importsOf(root, f).map((e) => packageOf(e.specifier))))
      for (const dep of Object.keys(unit.manifest.dependencies ?? {}))
        if (!used.has(dep)) problems.push(`${unit.dir}/package.json: dependency ${dep} is never imported`)
    }
  }
  for (const circle of circles(graph)) problems.push(`import circle: ${circle.join(' -> ')}`)
  return problems
}
