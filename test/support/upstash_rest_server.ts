/**
 * A local server that speaks the Upstash Redis REST protocol, as `@upstash/redis` 1.39 uses it,
 * in front of a real redis-server. Tests point the real client at it.
 *
 * Wire contract (what the client sends and expects, read from its source):
 * - Every request is `POST` with a JSON body and `Authorization: Bearer <token>`; a missing or
 *   wrong token answers 401 `{"error":"Unauthorized"}` on every route.
 * - `POST /` takes one command `["SET","k","v"]` → `{"result": …}`, or HTTP 400 `{"error": "ERR …"}`
 *   when redis answers an error. (The client sends single commands here only when auto-pipelining
 *   is off or the command is excluded from it, e.g. HGETALL, SMEMBERS, LRANGE.)
 * - `POST /pipeline` takes `[[cmd…], …]` → HTTP 200 with `[{"result"}|{"error"}, …]`, one per
 *   command, in order (auto-pipelining, on by default, sends even single commands here).
 * - `POST /multi-exec` takes the same and runs it in MULTI/EXEC; a command rejected while queuing
 *   aborts the whole transaction and answers 400 `{"error"}` with that command's error.
 * - `Upstash-Encoding: base64` (the client default) base64-encodes every string in a result,
 *   recursively through arrays: bulk strings (their raw bytes) and status replies alike — except a
 *   command's whole result being the status `OK`, which stays `"OK"` (the client passes a top-level
 *   `"OK"` through undecoded, but base64-decodes strings inside arrays, where `OK` must be encoded).
 *   Integers and nulls are never encoded; errors are never encoded.
 * - Each answer carries an `upstash-sync-token` header, which the client echoes on its next request
 *   (read-your-writes); this server does not need it, it only keeps the exchange realistic.
 *
 * Fault injection ({@linkcode FaultControl}) makes requests answer 500, hang, or drop the
 * connection mid-answer, before or after the commands ran in redis.
 */

import { redisAvailable, RedisHandle, startRedis } from "./redis_server.ts";
import { ErrorReply, RespArg, RespConnection, RespReply, SimpleString } from "./resp_client.ts";

/**
 * What an injected fault does to a request: answer 500, hang until the fault is reset (or the
 * server stops), or `close`: send a 200 status line, then end the connection short of the body.
 */
export type FaultMode = "none" | "http500" | "hang" | "close";

export interface FaultSpec {
  readonly mode: FaultMode;
  /** How many requests the fault hits; absent means every request until reset. */
  readonly count?: number;
  /**
   * When true the commands run in redis first and only the answer is lost (500, hang or cut);
   * when false (default) redis is never reached.
   */
  readonly afterApply?: boolean;
}

export interface FaultControl {
  set(spec: FaultSpec): void;
  /** Clears the fault and answers every request hanging on one with 503. */
  reset(): void;
  /** The fault in force, with the requests it has left in `count`. */
  readonly current: FaultSpec;
}

/** Request counters since start or the last `resetStats()`. */
export interface RestStats {
  /** Every HTTP request, including rejected and faulted ones. */
  requests: number;
  /** Requests per path, e.g. `{"/pipeline": 3}`. */
  byPath: Record<string, number>;
  /** Redis commands run on behalf of authorized requests. */
  commands: number;
}

export interface UpstashRestServer {
  /** `http://127.0.0.1:<port>` — the value for `UPSTASH_REDIS_REST_URL`. */
  readonly url: string;
  readonly token: string;
  readonly faults: FaultControl;
  readonly stats: Readonly<RestStats>;
  resetStats(): void;
  stop(): Promise<void>;
}

export interface UpstashRestOptions {
  readonly redisPort: number;
  readonly token: string;
}

/** Largest request body accepted, in bytes (generous: a maximal push is ~2 MB of bodies). */
const REQUEST_BYTES_MAX = 64 * 1024 * 1024;
/** Idle redis connections kept for reuse; busier moments open more and close them after. */
const POOL_IDLE_MAX = 8;

/** Commands that would break a pooled connection's state or never return. */
const DENIED_COMMANDS = new Set([
  "AUTH",
  "DISCARD",
  "EXEC",
  "HELLO",
  "MONITOR",
  "MULTI",
  "PSUBSCRIBE",
  "PSYNC",
  "PUNSUBSCRIBE",
  "QUIT",
  "RESET",
  "SELECT",
  "SSUBSCRIBE",
  "SUBSCRIBE",
  "SUNSUBSCRIBE",
  "SYNC",
  "UNSUBSCRIBE",
  "UNWATCH",
  "WATCH",
]);

const decoder = new TextDecoder();
const encoder = new TextEncoder();

/** Standard base64 (with padding) of raw bytes. */
export function encodeBase64(bytes: Uint8Array): string {
  let binary = "";
  const step = 0x8000;
  for (let i = 0; i < bytes.length; i += step) {
    binary += String.fromCharCode(...bytes.subarray(i, i + step));
  }
  return btoa(binary);
}

/** Converts one command's reply to its JSON result, base64-encoding strings when asked. */
export function resultToJson(
  reply: RespReply,
  base64: boolean,
  topLevel = true,
): unknown {
  if (reply === null || typeof reply === "number") return reply;
  if (Array.isArray(reply)) {
    return reply.map((r) => resultToJson(r, base64, false));
  }
  if (reply instanceof Uint8Array) {
    return base64 ? encodeBase64(reply) : decoder.decode(reply);
  }
  const text = reply instanceof SimpleString ? reply.value : reply.message;
  if (!base64 || (topLevel && reply instanceof SimpleString && text === "OK")) {
    return text;
  }
  return encodeBase64(encoder.encode(text));
}

/** One answer per command: a result, or an error message. */
type Outcome = { readonly result: unknown } | { readonly error: string };

function outcome(reply: RespReply, base64: boolean): Outcome {
  return reply instanceof ErrorReply
    ? { error: reply.message }
    : { result: resultToJson(reply, base64) };
}

class BadRequest extends Error {}

/** Validates one JSON command: a non-empty array of strings, numbers or booleans. */
function parseCommand(value: unknown): RespArg[] {
  if (!Array.isArray(value) || value.length === 0) {
    throw new BadRequest("ERR failed to parse command");
  }
  return value.map((arg) => {
    if (typeof arg === "string" || typeof arg === "number") return arg;
    if (typeof arg === "boolean") return String(arg);
    throw new BadRequest("ERR failed to parse command");
  });
}

function parseCommandList(value: unknown): RespArg[][] {
  if (!Array.isArray(value) || value.length === 0) {
    throw new BadRequest("ERR failed to parse pipeline request");
  }
  return value.map(parseCommand);
}

function deniedError(command: readonly RespArg[]): string | null {
  const name = String(command[0]).toUpperCase();
  return DENIED_COMMANDS.has(name) ? `ERR Command is not allowed: ${name}` : null;
}

class ConnectionPool {
  readonly #idle: RespConnection[] = [];
  readonly #open = new Set<RespConnection>();
  #closed = false;

  constructor(private readonly port: number) {}

  async acquire(): Promise<RespConnection> {
    for (
      let conn = this.#idle.pop();
      conn !== undefined;
      conn = this.#idle.pop()
    ) {
      if (!conn.broken) return conn;
      this.#drop(conn);
    }
    const conn = await RespConnection.connect(this.port);
    this.#open.add(conn);
    return conn;
  }

  release(conn: RespConnection): void {
    if (conn.broken || this.#closed || this.#idle.length >= POOL_IDLE_MAX) {
      this.#drop(conn);
    } else this.#idle.push(conn);
  }

  closeAll(): void {
    this.#closed = true;
    for (const conn of this.#open) conn.close();
    this.#open.clear();
    this.#idle.length = 0;
  }

  #drop(conn: RespConnection): void {
    conn.close();
    this.#open.delete(conn);
  }
}

class Faults implements FaultControl {
  #spec: FaultSpec = { mode: "none" };
  readonly #hanging = new Set<() => void>();

  get current(): FaultSpec {
    return this.#spec;
  }

  set(spec: FaultSpec): void {
    this.#spec = spec.count === 0 ? { mode: "none" } : { ...spec };
  }

  reset(): void {
    this.#spec = { mode: "none" };
    this.releaseHanging();
  }

  /** Consumes one request's worth of the fault in force, if any. */
  take(): FaultSpec | null {
    const spec = this.#spec;
    if (spec.mode === "none") return null;
    if (spec.count !== undefined) {
      this.#spec = spec.count <= 1 ? { mode: "none" } : { ...spec, count: spec.count - 1 };
    }
    return spec;
  }

  /**
   * Resolves when the fault is reset or the server stops. (Not when the client gives up: watching
   * `request.signal` makes Deno.serve print a deprecation notice, and nothing needs it.)
   */
  hang(): Promise<void> {
    return new Promise((resolve) => {
      const release = () => {
        this.#hanging.delete(release);
        resolve();
      };
      this.#hanging.add(release);
    });
  }

  releaseHanging(): void {
    for (const release of [...this.#hanging]) release();
  }
}

function json(
  status: number,
  body: unknown,
  headers: Record<string, string> = {},
): Response {
  return new Response(JSON.stringify(body), {
    status,
    headers: { "content-type": "application/json", ...headers },
  });
}

/**
 * A 200 answer that promises one body byte and ends without it: the client gets the status line,
 * then its body read fails as on a dropped connection (and the server logs nothing).
 */
function cutConnection(): Response {
  const empty = new ReadableStream({ pull: (controller) => controller.close() });
  return new Response(empty, {
    status: 200,
    headers: { "content-type": "application/json", "content-length": "1" },
  });
}

async function injectFault(mode: FaultMode, faults: Faults): Promise<Response> {
  if (mode === "http500") {
    return json(500, { error: "ERR injected fault: internal server error" });
  }
  if (mode === "close") return cutConnection();
  await faults.hang();
  return json(503, { error: "ERR injected fault: hang released" });
}

async function readBody(req: Request): Promise<unknown> {
  const length = Number(req.headers.get("content-length") ?? "0");
  if (length > REQUEST_BYTES_MAX) {
    throw new BadRequest("ERR request body too large");
  }
  const text = await req.text();
  if (text.length > REQUEST_BYTES_MAX) {
    throw new BadRequest("ERR request body too large");
  }
  try {
    return JSON.parse(text);
  } catch {
    throw new BadRequest("ERR failed to parse command");
  }
}

type Route = "/" | "/pipeline" | "/multi-exec";

/** Runs the request's commands; returns the HTTP status and JSON body. */
async function execute(
  route: Route,
  body: unknown,
  conn: RespConnection,
  base64: boolean,
  stats: RestStats,
): Promise<[number, unknown]> {
  if (route === "/") {
    const command = parseCommand(body);
    const denied = deniedError(command);
    if (denied !== null) return [400, { error: denied }];
    stats.commands += 1;
    const result = outcome(await conn.command(...command), base64);
    return ["error" in result ? 400 : 200, result];
  }
  const commands = parseCommandList(body);
  const denied = commands.map(deniedError);
  if (route === "/multi-exec") {
    const firstDenied = denied.find((d) => d !== null);
    if (firstDenied) return [400, { error: firstDenied }];
    stats.commands += commands.length;
    const { queued, exec } = await conn.transaction(commands);
    const rejected = queued.find((r) => r instanceof ErrorReply);
    if (rejected instanceof ErrorReply) {
      return [400, { error: rejected.message }];
    }
    if (exec instanceof ErrorReply) return [400, { error: exec.message }];
    if (!Array.isArray(exec)) {
      return [500, { error: "ERR transaction aborted" }];
    }
    return [200, exec.map((r) => outcome(r, base64))];
  }
  const allowed = commands.filter((_, i) => denied[i] === null);
  stats.commands += allowed.length;
  const replies = allowed.length > 0 ? await conn.pipeline(allowed) : [];
  let next = 0;
  return [
    200,
    denied.map((d) => d === null ? outcome(replies[next++], base64) : { error: d }),
  ];
}

/**
 * Starts the REST server on a free loopback port in front of redis on `redisPort`. Only requests
 * bearing `token` are served.
 */
export function startUpstashRest(
  opts: UpstashRestOptions,
): Promise<UpstashRestServer> {
  const pool = new ConnectionPool(opts.redisPort);
  const faults = new Faults();
  const stats: RestStats = { requests: 0, byPath: {}, commands: 0 };
  const expectedAuth = `Bearer ${opts.token}`;
  let syncToken = 0;

  const handle = async (req: Request): Promise<Response> => {
    const path = new URL(req.url).pathname;
    stats.requests += 1;
    stats.byPath[path] = (stats.byPath[path] ?? 0) + 1;
    const fault = faults.take();
    if (fault !== null && !fault.afterApply) {
      return await injectFault(fault.mode, faults);
    }
    if (req.headers.get("authorization") !== expectedAuth) {
      return json(401, { error: "Unauthorized" });
    }
    if (req.method !== "POST") {
      return json(405, { error: "ERR method not allowed" });
    }
    if (path !== "/" && path !== "/pipeline" && path !== "/multi-exec") {
      return json(404, {
        error: "ERR path-style commands are not supported by this test server",
      });
    }
    const base64 = req.headers.get("upstash-encoding")?.toLowerCase() === "base64";
    let status: number;
    let body: unknown;
    try {
      const command = await readBody(req);
      const conn = await pool.acquire();
      try {
        [status, body] = await execute(path, command, conn, base64, stats);
      } finally {
        pool.release(conn);
      }
    } catch (error) {
      if (!(error instanceof BadRequest)) {
        return json(500, {
          error: `ERR redis unavailable: ${(error as Error).message}`,
        });
      }
      [status, body] = [400, { error: error.message }];
    }
    if (fault !== null) return await injectFault(fault.mode, faults);
    syncToken += 1;
    return json(status, body, { "upstash-sync-token": String(syncToken) });
  };

  return new Promise((resolve) => {
    const server = Deno.serve({
      hostname: "127.0.0.1",
      port: 0,
      onListen: ({ port }) => {
        resolve({
          url: `http://127.0.0.1:${port}`,
          token: opts.token,
          faults,
          stats,
          resetStats() {
            stats.requests = 0;
            stats.byPath = {};
            stats.commands = 0;
          },
          async stop() {
            faults.reset();
            await server.shutdown();
            pool.closeAll();
          },
        });
      },
    }, handle);
  });
}

/** A redis-server with an Upstash REST server in front, for one test. */
export interface UpstashTestEnv {
  readonly redis: RedisHandle;
  readonly rest: UpstashRestServer;
}

/**
 * Starts a fresh redis-server and a REST server in front of it (random token); `stop()` stops
 * both. Throws when redis-server is not installed (check `redisAvailable` first).
 */
export async function startUpstashEnv(): Promise<UpstashTestEnv & { stop(): Promise<void> }> {
  const redis = await startRedis();
  if (redis === null) throw new Error("Cannot start Upstash env as redis-server is not installed");
  let rest: UpstashRestServer;
  try {
    rest = await startUpstashRest({ redisPort: redis.port, token: `token-${crypto.randomUUID()}` });
  } catch (error) {
    await redis.stop();
    throw error;
  }
  return {
    redis,
    rest,
    async stop() {
      try {
        await rest.stop();
      } finally {
        await redis.stop();
      }
    },
  };
}

/**
 * Registers a test that gets a fresh redis-server and REST server (random token), both stopped
 * after the test; registered as ignored (skipped) when redis-server is not installed.
 */
export function upstashTest(
  name: string,
  fn: (env: UpstashTestEnv, t: Deno.TestContext) => Promise<void>,
): void {
  Deno.test({
    name,
    ignore: !redisAvailable,
    fn: async (t) => {
      const env = await startUpstashEnv();
      try {
        await fn(env, t);
      } finally {
        await env.stop();
      }
    },
  });
}
