/**
 * Every setting of a flowcast node, defined once: the limits (`ServerLimits` is their value type)
 * and the node's other settings (listen address, origins, auth, Redis, log level, catalog). The
 * env names, the CLI flags, `--help` and the README's configuration table are all derived from
 * these definitions; `test/config/reference.test.ts` fails when the README table differs.
 */
import { DEFAULT_RETENTION } from '@flowcast/flows'
import { DEFAULT_KEY_PREFIX } from '../brokers/redis/keys.ts'
import { choice, flag, integer, origins, type Setting, text } from './setting.ts'

/** The limits: each bounds one resource and is documented with what happens at it. */
export const LIMIT_SETTINGS = {
  maxBodyBytes: integer(
    1024 * 1024,
    'Largest HTTP request body; a bigger one answers 413 `payload_too_large` (with or without `Content-Length`).',
    { unit: 'bytes' },
  ),
  maxPayload: integer(
    64 * 1024,
    'Largest inbound WebSocket frame; a bigger one closes that socket with **1009**.',
    { unit: 'bytes' },
  ),
  maxSubscriptions: integer(
    64,
    'Subscriptions one socket may hold at once; over it: `error too_many_subscriptions`, the socket stays.',
  ),
  commandsPerSecond: integer(
    50,
    'Frames one socket may send per second (token bucket, burst = one second of them; malformed frames count). Over it: `error rate_limited`, the socket stays; a refused frame is not parsed, so its reply carries the request `id` only when the frame starts `{"type":…,"id":…` (as the SDK writes it).',
  ),
  rateLimitCloseAfter: integer(
    100,
    'Refused frames within one `rateLimitWindowMs` after which the socket is closed with **4029** (sustained abuse, even with some frames passing).',
  ),
  rateLimitWindowMs: integer(
    10_000,
    'The fixed window, per socket, over which `rateLimitCloseAfter` counts refusals.',
    { unit: 'ms' },
  ),
  maxConnectionsPerAddress: integer(
    1000,
    'Open WebSockets and SSE responses one client address may hold together: an upgrade over it is refused with HTTP **429**, an SSE request answers 429 `too_many_connections` (the address is the TCP peer: behind a reverse proxy, raise it).',
  ),
  authTimeoutMs: integer(
    5000,
    'How long a socket without `?token=` has to send its `auth` frame before it is closed with **4001**.',
    { unit: 'ms' },
  ),
  streamTicketTtlMs: integer(
    60_000,
    "How long a stream ticket (`POST /api/executions/:id/stream-ticket`) opens that execution's SSE stream as `?ticket=` (a browser `EventSource` sends no headers); never longer than the token it was traded for. A stream it opened lives on until that token expires.",
    { unit: 'ms' },
  ),
  maxLiveExecutions: integer(
    1000,
    'Executions running (not finished) on this node at once; one more answers HTTP 429 `too_many_executions`.',
  ),
  retainedEvents: integer(
    DEFAULT_RETENTION.maxEvents,
    'Runtime-stream events retained per execution; the oldest leave the log and a subscriber behind them gets `gap { from, to }`, then the rest.',
  ),
  retainedBytes: integer(
    DEFAULT_RETENTION.maxBytes,
    'Runtime-stream bytes (encoded JSON) retained per execution; past it, as `retainedEvents`.',
    { unit: 'bytes' },
  ),
  nodeRetainedBytes: integer(
    256 * 1024 * 1024,
    "Runtime-stream bytes (encoded JSON) this node keeps in memory over every execution, running and finished together (with Redis: the logs of executions it runs and its copies of logs it follows; Redis's own memory is not counted). Over it, finished executions' logs go first, the oldest finished first (status and result stay; a history read gets `gap` for the events); then the oldest events of running executions (`gap`, as `retainedBytes`). O(1) per event.",
    { unit: 'bytes' },
  ),
  finishedRetainedBytes: integer(
    128 * 1024 * 1024,
    'Runtime-stream bytes this node keeps for executions whose stream has ended (finished, or stopped); over it, their logs go as with `nodeRetainedBytes`, the oldest ended first.',
    { unit: 'bytes' },
  ),
  maxFinishedExecutions: integer(
    10_000,
    'Finished executions this node keeps (status, result, log); one more evicts the oldest finished one at once, as `finishedTtlMs` does.',
  ),
  finishedTtlMs: integer(
    60 * 60_000,
    'How long a finished execution, its result and its events are kept; then they are evicted (404).',
    { unit: 'ms' },
  ),
  highWaterMark: integer(
    1024 * 1024,
    'Outbound bytes queued on one socket above which live delivery to it pauses; when it drains it catches up from the log (no loss, no repeat; `gap` if it fell behind retention).',
    { unit: 'bytes' },
  ),
  slowConsumerTimeoutMs: integer(
    30_000,
    'A socket that stays above `highWaterMark` this long is closed with **4008**; an SSE response is destroyed (not left to drain).',
    { unit: 'ms' },
  ),
  controlOverdraftBytes: integer(
    64 * 1024,
    'Bytes of replies (pong, error, ack, subscribed) one socket may queue past `highWaterMark` (a reply cannot wait for a drain); the reply that would exceed it closes the socket with **4008** (a client that sends and never reads).',
    { unit: 'bytes' },
  ),
  maxFrameBytes: integer(
    1024 * 1024,
    'Largest frame the server builds (live, catch-up, replay, SSE message, history page): a burst is split across frames, in order. At least `maxItemBytes` + 4 KiB.',
    { unit: 'bytes' },
  ),
  maxItemBytes: integer(
    512 * 1024,
    'Largest runtime-stream item (its encoded envelope): a bigger `putIntoStream` is refused with `item_too_large` (naming the flow and the size); the flow may catch it and carry on.',
    { unit: 'bytes' },
  ),
  catchUpBatch: integer(256, 'The most events per catch-up (and replay) frame.'),
  drainCheckMs: integer(20, 'How often paused sockets are checked for drain.', { unit: 'ms' }),
  heartbeatMs: integer(
    30_000,
    'Server ping interval; a socket that has not answered the previous ping with a pong is terminated (frames it sends do not count as liveness). Spread: one slice of the sockets per ~5 ms tick (a tick yields after 2 ms), each socket once per interval.',
    { unit: 'ms' },
  ),
  presenceIntervalMs: integer(500, 'Least time between two presence frames of one room.', { unit: 'ms' }),
  presenceFramesPerTick: integer(
    200,
    "Most presence frames the server's one presence ticker sends in one event-loop callback; more due at once (a join storm across many rooms) go in the next turns, with I/O between. A change reaches every member about `presenceIntervalMs` + 10 ms after the room's previous presence, plus one turn per this many frames queued ahead of it.",
  ),
  maxResultWaitMs: integer(60_000, 'Longest `wait` the result route honours (longer ones are clamped).', {
    unit: 'ms',
  }),
  maxHistoryLimit: integer(
    1000,
    'Largest `limit` of the history route (clamped; its default when absent is min(100, this)).',
  ),
  nodeLeaseMs: integer(
    15_000,
    "Redis broker: how long a node's lease lasts unrenewed (renewed every third of it); when a node dies without a word, another node takes its unfinished executions over from their checkpoints about this long after. Use one value on every node.",
    { unit: 'ms', aliases: ['FLOWCAST_LEASE_MS'] },
  ),
  followerLingerMs: integer(
    30_000,
    "Redis broker: how long a node keeps its copy of another node's execution log after the last room on it closed (unwatched), so that opening it again reads only the events that came meanwhile; 0 drops it at once.",
    { unit: 'ms', min: 0 },
  ),
  followerLingerBytes: integer(
    64 * 1024 * 1024,
    'Redis broker: the most bytes such lingering copies hold together on a node (the oldest is dropped first); they count in `nodeRetainedBytes` too.',
    { unit: 'bytes', min: 0 },
  ),
  doorbellBytes: integer(
    64 * 1024,
    "Redis broker: the most bytes of stream entries one write batch's doorbell carries to the nodes following those streams, which apply them without reading the stream (no XREAD round trip); the streams past it are only named, and read. 0: the doorbell only names them.",
    { unit: 'bytes', min: 0 },
  ),
  drainTimeoutMs: integer(
    30_000,
    'On SIGTERM/SIGINT: how long running executions may go on finishing (no new ones start) before the rest are ended as failed with error code `shutdown` (memory broker) or handed over to another node from their checkpoints (Redis).',
    { unit: 'ms', min: 0 },
  ),
  checkpointMaxBytes: integer(
    1024 * 1024,
    "Redis broker: largest checkpoint (an execution's saved state, written to Redis at each step boundary so another node can resume it); a bigger one fails the execution with error code `checkpoint_too_large`.",
    { unit: 'bytes' },
  ),
} satisfies Record<string, Setting<number>>

/** The names of the limits. */
export type LimitName = keyof typeof LIMIT_SETTINGS

/** Every limit of a server, resolved. */
export type ServerLimits = { [K in LimitName]: number }

/** The settings of a node besides its limits. */
export const NODE_SETTINGS = {
  port: integer(8787, 'TCP port to listen on (0 picks a free one).', {
    min: 0,
    max: 65535,
    aliases: ['PORT'],
  }),
  host: text('127.0.0.1', 'Address to listen on (`0.0.0.0` for every interface).', { aliases: ['HOST'] }),
  allowedOrigins: origins(
    '*',
    'Origins allowed to call the HTTP API (CORS) and to open WebSockets: `*` or a comma-separated list such as `https://app.example.com`; an upgrade whose `Origin` is not allowed gets 403. Pin it in deployments.',
  ),
  auth: choice(
    ['on', 'off'],
    'on',
    '`on`: the API key starts executions and mints tokens. `off`: every client may do everything (local work only).',
  ),
  apiKey: text(
    undefined,
    'The API key (send it as `Authorization: Bearer <key>`). Unset: one is generated and printed once on stderr.',
    {
      secret: true,
      defaultText: 'generated',
    },
  ),
  secret: text(
    undefined,
    'The HS256 secret that signs tokens (use 32 random bytes or more). Unset: generated, never printed; tokens then die with the process, so set one shared by every node.',
    { secret: true, defaultText: 'generated' },
  ),
  redisUrl: text(
    undefined,
    'Run on the Redis broker (several nodes serving the same executions); unset: in memory, one node.',
    { aliases: ['REDIS_URL'], secret: true, defaultText: '(memory)' },
  ),
  keyPrefix: text(DEFAULT_KEY_PREFIX, 'Prefix of every Redis key and channel of this deployment.'),
  logLevel: choice(
    ['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent'],
    'info',
    'Least level of the JSON log lines on stdout; `debug` adds an access log and socket open/close lines.',
    { aliases: ['LOG_LEVEL'] },
  ),
  catalog: flag(
    undefined,
    'Serve the built-in catalog flows too (`--catalog` / `--no-catalog`). Default: on without a flows module, off with one ($FLOWCAST_EXTRA_FLOWS adds to the catalog).',
    'on without a module',
  ),
  lightweightWebGlobals: flag(
    undefined,
    "Replace the process's `Request` and `Response` globals with @hono/node-server's lightweight ones, for the rest of the process, so that a JSON answer is written from its string without building a web-stream Response (see Performance: faster result reads and starts). Every other module of the process then gets those stand-ins (a class that extends `Response`, for one, extends the stand-in): turn it off if flows or an embedding app rely on the native classes (`--no-lightweight-web-globals`). Default: on in `flowcast serve`, off in `startServer` (which runs inside someone else's process).",
    'on in flowcast serve',
  ),
  modelBaseUrl: text(
    undefined,
    "The catalog's `model-outline` flow: base URL (with its `/v1`) of an OpenAI-compatible endpoint (vLLM, Ollama, OpenAI) to stream its answer from; set it with `model`. Unset: the simulated model.",
    { defaultText: '(simulated)' },
  ),
  model: text(undefined, 'The model name `model-outline` asks for at `modelBaseUrl`.', {
    defaultText: '(simulated)',
  }),
  modelApiKey: text(undefined, 'The API key sent to `modelBaseUrl`, if the endpoint wants one.', {
    secret: true,
    defaultText: '(none)',
  }),
} satisfies Record<string, Setting>

/** Every setting of a node: its own, then the limits. */
export const SETTINGS = { ...NODE_SETTINGS, ...LIMIT_SETTINGS }

/** The name of any setting. */
export type SettingName = keyof typeof SETTINGS

/** Each limit's default. */
export const DEFAULT_LIMITS: ServerLimits = Object.fromEntries(
  Object.entries(LIMIT_SETTINGS).map(([name, s]) => [name, s.default]),
) as ServerLimits
