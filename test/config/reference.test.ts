/**
 * The one configuration reference cannot drift: the README table is the one the definitions
 * write, `--help` names every setting, and the limits the server resolves are the ones defined.
 */
import { readFileSync } from 'node:fs'
import { describe, expect, it } from 'vitest'
import { helpText, readmeTable, referenceTable, tableCells } from '../../server/config/reference.ts'
import { envName, flagName } from '../../server/config/setting.ts'
import { DEFAULT_LIMITS as DEFINED, SETTINGS } from '../../server/config/settings.ts'
import { resolveLimits } from '../../server/options.ts'

const readme = readFileSync(new URL('../../README.md', import.meta.url), 'utf8')

describe('configuration reference', () => {
  it('the README table is the generated one (run `npm run docs:config` after changing a setting)', () => {
    const table = readmeTable(readme)
    expect(table, 'the config-reference markers').toBeDefined()
    expect(tableCells(table!)).toEqual(tableCells(referenceTable()))
  })

  it('the table has one row per setting, with its env name and flag', () => {
    const rows = readmeTable(readme)!
      .split('\n')
      .filter((l) => l.startsWith('| `'))
    expect(rows).toHaveLength(Object.keys(SETTINGS).length)
    for (const name of Object.keys(SETTINGS)) {
      const row = rows.find((r) => r.startsWith(`| \`${name}\``) || r.startsWith(`| \`limits.${name}\``))
      expect(row, name).toBeDefined()
      expect(row).toContain(`\`${envName(name)}`)
      expect(row).toContain(`--${flagName(name)}`)
    }
  })

  it('--help lists every setting', () => {
    const help = helpText()
    for (const name of Object.keys(SETTINGS)) expect(help, name).toContain(`--${flagName(name)}`)
  })

  it('startServer checks given limits against the same definitions', () => {
    expect(resolveLimits({})).toEqual(DEFINED)
    expect(resolveLimits({ maxLiveExecutions: 3 }).maxLiveExecutions).toBe(3)
    expect(() => resolveLimits({ maxLiveExecutions: 0 })).toThrow(/invalid limits.maxLiveExecutions \(0\)/)
    expect(() => resolveLimits({ heartbeatMs: 1.5 })).toThrow(/limits.heartbeatMs/)
    expect(() => resolveLimits({ nope: 1 } as never)).toThrow(/unknown limit "nope"/)
  })
})
