/**
 * Settings from flags and the environment: every setting is reachable both ways under its derived
 * name, a flag wins over the env, older names still work, and a bad value is refused with a message
 * naming the setting (and never a secret's value).
 */
import { describe, expect, it } from 'vitest'
import { envName, flagName, type Setting } from '../../server/config/setting.ts'
import { SETTINGS } from '../../server/config/settings.ts'
import { ConfigError, parseCommandLine, readConfig } from '../../server/config/sources.ts'

const read = (argv: string[], env: NodeJS.ProcessEnv = {}) => readConfig(parseCommandLine(argv).flags, env)

/** A valid non-default text value of `setting`, and the value it should read as. */
function sample(setting: Setting): [string, unknown] {
  switch (setting.kind) {
    case 'integer': {
      const v = setting.default === 1 ? 2 : 1
      return [String(v), v]
    }
    case 'boolean':
      return ['true', true]
    case 'origins':
      return ['https://a.example, https://b.example:8443', ['https://a.example', 'https://b.example:8443']]
    case 'choice': {
      const v = setting.choices!.find((c) => c !== setting.default)!
      return [v, v]
    }
    default:
      return ['some-value-0123456789abcdef0123456789', 'some-value-0123456789abcdef0123456789']
  }
}

describe('settings from flags and env', () => {
  it('names: FLOWCAST_ plus upper snake case, and a kebab-case flag', () => {
    expect(envName('maxLiveExecutions')).toBe('FLOWCAST_MAX_LIVE_EXECUTIONS')
    expect(envName('allowedOrigins')).toBe('FLOWCAST_ALLOWED_ORIGINS')
    expect(envName('heartbeatMs')).toBe('FLOWCAST_HEARTBEAT_MS')
    expect(envName('drainTimeoutMs')).toBe('FLOWCAST_DRAIN_TIMEOUT_MS')
    expect(flagName('maxLiveExecutions')).toBe('max-live-executions')
  })

  it('defaults when nothing is given', () => {
    const config = read([])
    for (const [name, setting] of Object.entries(SETTINGS) as [string, Setting][])
      expect((config as Record<string, unknown>)[name], name).toEqual(setting.default)
  })

  for (const [name, setting] of Object.entries(SETTINGS) as [string, Setting][]) {
    it(`${name}: by ${envName(name)} and by --${flagName(name)}`, () => {
      const [raw, value] = sample(setting)
      expect((read([], { [envName(name)]: raw }) as Record<string, unknown>)[name]).toEqual(value)
      const argv = setting.kind === 'boolean' ? [`--${flagName(name)}`] : [`--${flagName(name)}`, raw]
      expect((read(argv) as Record<string, unknown>)[name]).toEqual(value)
    })
  }

  it('a flag wins over the env; FLOWCAST_X over the older alias', () => {
    expect(read(['--port', '9001'], { FLOWCAST_PORT: '9002', PORT: '9003' }).port).toBe(9001)
    expect(read([], { FLOWCAST_PORT: '9002', PORT: '9003' }).port).toBe(9002)
  })

  it("today's names keep working: PORT, HOST, REDIS_URL, LOG_LEVEL, FLOWCAST_LEASE_MS, FLOWCAST_AUTH", () => {
    const c = read([], {
      PORT: '0',
      HOST: '0.0.0.0',
      REDIS_URL: 'redis://127.0.0.1:6379',
      LOG_LEVEL: 'warn',
      FLOWCAST_LEASE_MS: '4000',
      FLOWCAST_AUTH: 'off',
      FLOWCAST_KEY_PREFIX: 'x:',
      FLOWCAST_API_KEY: 'k',
      FLOWCAST_SECRET: 's',
    })
    expect(c).toMatchObject({
      port: 0,
      host: '0.0.0.0',
      redisUrl: 'redis://127.0.0.1:6379',
      logLevel: 'warn',
      nodeLeaseMs: 4000,
      auth: 'off',
      keyPrefix: 'x:',
      apiKey: 'k',
      secret: 's',
    })
  })

  it('allowed origins: * or a comma-separated list', () => {
    expect(read([], { FLOWCAST_ALLOWED_ORIGINS: '*' }).allowedOrigins).toBe('*')
    expect(read(['--allowed-origins', 'https://app.example.com']).allowedOrigins).toEqual([
      'https://app.example.com',
    ])
  })

  it('--catalog / --no-catalog', () => {
    expect(read(['--no-catalog']).catalog).toBe(false)
    expect(read([], { FLOWCAST_CATALOG: 'off' }).catalog).toBe(false)
    expect(() => read(['--catalog', '--no-catalog'])).toThrow(ConfigError)
  })

  it('an empty env value is unset', () => {
    expect(read([], { FLOWCAST_MAX_LIVE_EXECUTIONS: '' }).maxLiveExecutions).toBe(1000)
  })

  const refused: [string[], NodeJS.ProcessEnv, RegExp][] = [
    [
      [],
      { FLOWCAST_MAX_LIVE_EXECUTIONS: 'many' },
      /maxLiveExecutions from FLOWCAST_MAX_LIVE_EXECUTIONS.*whole number/,
    ],
    [['--max-live-executions', '0'], {}, /maxLiveExecutions from --max-live-executions \(0\): .*>=1/],
    [[], { FLOWCAST_HEARTBEAT_MS: '1e3' }, /heartbeatMs from FLOWCAST_HEARTBEAT_MS/],
    [[], { FLOWCAST_HEARTBEAT_MS: '-5' }, /heartbeatMs/],
    [[], { PORT: '70000' }, /port from PORT/],
    [['--log-level', 'loud'], {}, /logLevel from --log-level/],
    [
      [],
      { FLOWCAST_ALLOWED_ORIGINS: 'app.example.com' },
      /allowedOrigins from FLOWCAST_ALLOWED_ORIGINS.*scheme:\/\/host/,
    ],
    [[], { FLOWCAST_ALLOWED_ORIGINS: ',' }, /allowedOrigins/],
    [[], { FLOWCAST_AUTH: 'maybe' }, /auth from FLOWCAST_AUTH/],
    [[], { FLOWCAST_CATALOG: 'perhaps' }, /catalog from FLOWCAST_CATALOG.*true or false/],
  ]
  for (const [argv, env, message] of refused) {
    it(`refuses ${JSON.stringify([...argv, ...Object.entries(env).map(([k, v]) => `${k}=${v}`)])}`, () => {
      expect(() => read(argv, env)).toThrow(ConfigError)
      expect(() => read(argv, env)).toThrow(message)
    })
  }

  it('an unknown flag is refused by name', () => {
    expect(() => read(['--max-live-exections', '3'])).toThrow(/--max-live-exections/)
  })

  it("a secret's value is never repeated in the message", () => {
    // An empty flag value is refused (an empty env value is unset); the message must not echo it.
    expect(() => read(['--api-key', ''])).toThrow(/^invalid apiKey from --api-key: /)
    expect(() => read(['--redis-url', ''])).toThrow(/^invalid redisUrl from --redis-url: /)
    // A non-secret's bad value is quoted back, so the rule above is what hides secrets.
    expect(() => read(['--host', ''])).toThrow(/^invalid host from --host \(""\): /)
  })
})
