/**
 * RegionStore on Upstash Redis through `@upstash/redis` (HTTP/REST), shared by every edge
 * instance of a region.
 *
 * Layout under `prefix` (default `mesh:`), one hash tag per channel so a channel's keys share a
 * cluster slot (`P` = prefix, `C` = channel):
 *   P{C}:d             hash   id → "<seq> <author> <sig> <body>"   (the record; body last)
 *   P{C}:a             list   ids in arrival order; arrival n is index n-1
 *   P{C}:h             hash   author → "<contiguous> <max> <count>"
 *   P{C}:s:<author>    hash   seq → id                            (seq slot)
 *   P{C}:r:<uuid>      string outcomes of one script call, 60 s   (replay guard)
 *
 * `putDeltas` sends one Lua script call per channel, all calls of a request in one `/pipeline`
 * request, so a push costs one round trip (two when redis lost the script and EVAL resends it).
 * Each script call is atomic, and it classifies its deltas in order, so a repeat or a rival
 * within the batch is seen as `duplicate` or `seq_conflict`. The replay guard makes a request
 * that `@upstash/redis` retries after a network error (it retries when `fetch` throws, even if
 * redis already ran the script) answer the outcomes of the first run instead of `duplicate`.
 */
import { Redis } from "@upstash/redis";
import { z } from "zod";
import { CHANNEL_PATTERN } from "../protocol/limits.ts";
import { utf8ByteLength } from "../protocol/utf8.ts";
import {
  type ArrivalPage,
  type ArrivedDelta,
  type AuthorHead,
  type PutOutcome,
  type RegionStore,
  type StoredDelta,
  StoreUnavailableError,
} from "./region_store.ts";

/** Upstash's own limit on one request (and one response), in bytes (Free and Pay as you go). */
export const UPSTASH_REQUEST_BYTES_MAX = 10_000_000;
/** Default budget of one `putDeltas` request, in bytes; leaves room under the Upstash limit. */
export const PUT_REQUEST_BYTES_DEFAULT = 8_000_000;
/** Default budget of record bytes in one `listArrivals` page (base64 grows it by 4/3). */
export const LIST_PAGE_BYTES_DEFAULT = 4_000_000;
/** Default timeout of one REST request including the client's retries, in milliseconds. */
export const REQUEST_TIMEOUT_MS_DEFAULT = 5_000;
/** Default retries of a request whose `fetch` failed (network error), inside the client. */
export const REQUEST_RETRIES_DEFAULT = 2;
/** Most retries configurable, so a request's time stays bounded. */
export const REQUEST_RETRIES_MAX = 5;
/** How long a script call's outcomes are kept to answer a retried request, in seconds. */
export const REPLAY_GUARD_TTL_SECONDS = 60;
/** Longest client error message kept in a StoreUnavailableError, in characters. */
const ERROR_MESSAGE_CHARS_MAX = 300;
/** Estimated request bytes of one delta besides its JSON-escaped body and sig. */
const DELTA_OVERHEAD_BYTES = 200;

if (PUT_REQUEST_BYTES_DEFAULT >= UPSTASH_REQUEST_BYTES_MAX) {
  throw new Error("PUT_REQUEST_BYTES_DEFAULT must stay below UPSTASH_REQUEST_BYTES_MAX");
}
if (LIST_PAGE_BYTES_DEFAULT * 4 / 3 >= UPSTASH_REQUEST_BYTES_MAX) {
  throw new Error("LIST_PAGE_BYTES_DEFAULT, base64-encoded, must fit UPSTASH_REQUEST_BYTES_MAX");
}
if (REPLAY_GUARD_TTL_SECONDS * 1_000 <= REQUEST_TIMEOUT_MS_DEFAULT) {
  throw new Error("REPLAY_GUARD_TTL_SECONDS must outlive a request with its retries");
}

/**
 * Classifies and stores one channel's deltas in order. KEYS: records, arrivals, heads, replay
 * guard. ARGV: slot key prefix, guard TTL, then id, author, seq, sig, body per delta. Returns
 * "a<arrival>" | "d" | "c<existing id>" per delta, comma-separated. Each delta's checks come
 * before its writes, and nothing after its first write can fail, so no delta is half-written.
 */
const PUT_SCRIPT = `
local done = redis.call('GET', KEYS[4])
if done then return done end
local out = {}
for i = 3, #ARGV, 5 do
  local id, author, seq, sig, body = ARGV[i], ARGV[i + 1], ARGV[i + 2], ARGV[i + 3], ARGV[i + 4]
  local slots = ARGV[1] .. author
  local existing = redis.call('HGET', slots, seq)
  if existing == id then
    out[#out + 1] = 'd'
  elseif existing then
    out[#out + 1] = 'c' .. existing
  else
    local n, c, m, k = tonumber(seq), 0, 0, 0
    local head = redis.call('HGET', KEYS[3], author)
    if head then
      local hc, hm, hk = string.match(head, '^(%d+) (%d+) (%d+)$')
      c, m, k = tonumber(hc), tonumber(hm), tonumber(hk)
    end
    redis.call('HSET', KEYS[1], id, seq .. ' ' .. author .. ' ' .. sig .. ' ' .. body)
    local arrival = redis.call('RPUSH', KEYS[2], id)
    redis.call('HSET', slots, seq, id)
    if n > m then m = n end
    k = k + 1
    if n == c + 1 then
      c = n
      while c < m and redis.call('HEXISTS', slots, string.format('%.0f', c + 1)) == 1 do
        c = c + 1
      end
    end
    redis.call('HSET', KEYS[3], author, string.format('%.0f %.0f %.0f', c, m, k))
    out[#out + 1] = string.format('a%.0f', arrival)
  end
end
local result = table.concat(out, ',')
redis.call('SET', KEYS[4], result, 'EX', ARGV[2])
return result
`;

/**
 * Reads a page of arrivals. KEYS: records, arrivals. ARGV: after, limit, page byte budget.
 * Returns {total arrivals, id, record, id, record, ...}; at least one record when any is due.
 */
const LIST_SCRIPT = `
local after, limit, budget = tonumber(ARGV[1]), tonumber(ARGV[2]), tonumber(ARGV[3])
local out = {redis.call('LLEN', KEYS[2])}
if limit < 1 then return out end
local ids = redis.call('LRANGE', KEYS[2], after, after + limit - 1)
local bytes = 0
for i, id in ipairs(ids) do
  local record = redis.call('HGET', KEYS[1], id)
  if i > 1 and bytes + #record > budget then break end
  bytes = bytes + #record
  out[#out + 1] = id
  out[#out + 1] = record
end
return out
`;

const BASE64URL = /^[A-Za-z0-9_-]+$/;

const tuningSchema = z.object({
  /** Key prefix; several regions or tests can share one database. Default `"mesh:"`. */
  prefix: z.string().regex(/^[^{}\s]*$/, "must not contain braces or whitespace").optional(),
  /** Request budget of `putDeltas`, in bytes. Default {@linkcode PUT_REQUEST_BYTES_DEFAULT}. */
  putRequestBytesMax: z.number().int().min(100_000).max(UPSTASH_REQUEST_BYTES_MAX).optional(),
  /** Record bytes per `listArrivals` page. Default {@linkcode LIST_PAGE_BYTES_DEFAULT}. */
  listPageBytesMax: z.number().int().min(1).max(UPSTASH_REQUEST_BYTES_MAX).optional(),
});

const connectionSchema = tuningSchema.extend({
  /** The REST URL (`UPSTASH_REDIS_REST_URL`). */
  url: z.string().regex(/^https?:\/\/\S+$/, "must be an http(s) URL"),
  /** The REST token (`UPSTASH_REDIS_REST_TOKEN`). */
  token: z.string().min(1),
  /** Timeout of one request with its retries. Default {@linkcode REQUEST_TIMEOUT_MS_DEFAULT}. */
  requestTimeoutMs: z.number().int().positive().optional(),
  /** Retries after a network error. Default {@linkcode REQUEST_RETRIES_DEFAULT}. */
  retries: z.number().int().min(0).max(REQUEST_RETRIES_MAX).optional(),
});

/** Options of a store that talks to a Redis client it is given. */
export type UpstashStoreTuning = z.input<typeof tuningSchema>;
/** Options of a store that builds its own client from a REST URL and token. */
export type UpstashStoreOptions = z.input<typeof connectionSchema>;

function validate<T>(schema: z.ZodType<T>, value: unknown): T {
  const parsed = schema.safeParse(value);
  if (parsed.success) return parsed.data;
  const issue = parsed.error.issues[0];
  throw new TypeError(
    `Cannot create UpstashStore as '${issue.path.join(".")}' is invalid: ${issue.message}`,
  );
}

/** One script call: some deltas of one channel, with their positions in the input. */
interface Call {
  readonly channel: string;
  readonly deltas: StoredDelta[];
  readonly indices: number[];
}

export class UpstashStore implements RegionStore {
  readonly kind = "upstash";
  readonly #redis: Redis;
  readonly #prefix: string;
  readonly #putBytesMax: number;
  readonly #pageBytesMax: number;
  #shas: Promise<{ put: string; list: string }> | null = null;

  /**
   * Builds its own client from `{url, token}` (no auto-pipelining or deserialization, a
   * per-request timeout, bounded retries), or uses the given `Redis` client as configured.
   */
  constructor(config: UpstashStoreOptions | Redis, tuning: UpstashStoreTuning = {}) {
    if (config instanceof Redis) {
      this.#redis = config;
    } else {
      const options = validate(connectionSchema, config);
      tuning = { ...options, ...tuning };
      const timeoutMs = options.requestTimeoutMs ?? REQUEST_TIMEOUT_MS_DEFAULT;
      this.#redis = new Redis({
        url: options.url,
        token: options.token,
        automaticDeserialization: false,
        enableAutoPipelining: false,
        enableTelemetry: false,
        retry: {
          retries: options.retries ?? REQUEST_RETRIES_DEFAULT,
          backoff: (retryCount) => 50 * 2 ** retryCount,
        },
        // A factory, not a signal: with a plain AbortSignal the client turns a timeout into a
        // made-up successful result instead of an error.
        signal: () => AbortSignal.timeout(timeoutMs),
      });
    }
    const checked = validate(tuningSchema, tuning);
    this.#prefix = checked.prefix ?? "mesh:";
    this.#putBytesMax = checked.putRequestBytesMax ?? PUT_REQUEST_BYTES_DEFAULT;
    this.#pageBytesMax = checked.listPageBytesMax ?? LIST_PAGE_BYTES_DEFAULT;
  }

  /** A store on `UPSTASH_REDIS_REST_URL` and `UPSTASH_REDIS_REST_TOKEN` as read by `env`. */
  static fromEnv(
    env: (name: string) => string | undefined,
    tuning: UpstashStoreTuning = {},
  ): UpstashStore {
    const url = env("UPSTASH_REDIS_REST_URL");
    const token = env("UPSTASH_REDIS_REST_TOKEN");
    if (!url || !token) {
      throw new TypeError(
        "Cannot create UpstashStore as UPSTASH_REDIS_REST_URL or UPSTASH_REDIS_REST_TOKEN is unset",
      );
    }
    return new UpstashStore({ url, token, ...tuning });
  }

  async putDeltas(deltas: readonly StoredDelta[]): Promise<PutOutcome[]> {
    deltas.forEach(assertStorable);
    const outcomes: PutOutcome[] = new Array(deltas.length);
    if (deltas.length === 0) return outcomes;
    const shas = await this.#scriptShas();
    for (const request of planRequests(deltas, this.#putBytesMax)) {
      const replies = await this.#guard("store deltas", () => this.#runPut(request, shas.put));
      request.forEach((call, i) => {
        parsePutReply(replies[i], call.deltas.length).forEach((outcome, k) => {
          outcomes[call.indices[k]] = outcome;
        });
      });
    }
    return outcomes;
  }

  /** Sends one request of script calls (by SHA); resends with EVAL those redis did not know. */
  async #runPut(request: readonly Call[], sha: string): Promise<unknown[]> {
    const nonce = crypto.randomUUID();
    const invocations = request.map((call, i) => {
      const base = this.#channelKey(call.channel);
      const keys = [`${base}:d`, `${base}:a`, `${base}:h`, `${base}:r:${nonce}:${i}`];
      const args: string[] = [`${base}:s:`, String(REPLAY_GUARD_TTL_SECONDS)];
      for (const d of call.deltas) args.push(d.id, d.author, String(d.seq), d.sig, d.body);
      return { keys, args };
    });
    const replies = await this.#exec(
      invocations,
      (p, { keys, args }) => p.evalsha(sha, keys, args),
    );
    const missing = replies.flatMap((r, i) => isNoScript(r.error) ? [i] : []);
    if (missing.length > 0) {
      const again = await this.#exec(
        missing.map((i) => invocations[i]),
        (p, { keys, args }) => p.eval(PUT_SCRIPT, keys, args),
      );
      missing.forEach((i, k) => replies[i] = again[k]);
    }
    return replies.map((r) => {
      if (r.error) throw new StoreUnavailableError(`Upstash rejected a script call: ${r.error}`);
      return r.result;
    });
  }

  async #exec<T>(
    items: readonly T[],
    add: (pipeline: ReturnType<Redis["pipeline"]>, item: T) => void,
  ): Promise<{ error?: string; result?: unknown }[]> {
    const pipeline = this.#redis.pipeline();
    for (const item of items) add(pipeline, item);
    return await pipeline.exec({ keepErrors: true });
  }

  async getDelta(channel: string, id: string): Promise<StoredDelta | null> {
    const record = await this.#guard(
      "read a delta",
      () => this.#redis.hget(`${this.#channelKey(channel)}:d`, id),
    );
    return record === null || record === undefined
      ? null
      : parseRecord(channel, id, String(record));
  }

  async listArrivals(channel: string, after: number, limit: number): Promise<ArrivalPage> {
    if (!Number.isSafeInteger(after) || after < 0 || !Number.isSafeInteger(limit) || limit < 0) {
      throw new RangeError(
        `Cannot list arrivals as 'after' and 'limit' must be non-negative integers: after is ${after}, limit is ${limit}`,
      );
    }
    const { list } = await this.#scriptShas();
    const base = this.#channelKey(channel);
    const keys = [`${base}:d`, `${base}:a`];
    const args = [String(after), String(limit), String(this.#pageBytesMax)];
    const reply = await this.#guard("list arrivals", async () => {
      const [first] = await this.#exec([0], (p) => p.evalsha(list, keys, args));
      if (!isNoScript(first.error)) return first;
      const [second] = await this.#exec([0], (p) => p.eval(LIST_SCRIPT, keys, args));
      return second;
    });
    if (reply.error) throw new StoreUnavailableError(`Upstash rejected a read: ${reply.error}`);
    const items = reply.result as unknown[];
    const total = Number(items[0]);
    const deltas: ArrivedDelta[] = [];
    for (let i = 1; i + 1 < items.length; i += 2) {
      const delta = parseRecord(channel, String(items[i]), String(items[i + 1]));
      deltas.push({ ...delta, arrival: after + deltas.length + 1 });
    }
    const cursor = after + deltas.length;
    return { deltas, cursor, more: total > cursor };
  }

  async getHead(channel: string, author: string): Promise<AuthorHead | null> {
    const head = await this.#guard(
      "read a head",
      () => this.#redis.hget(`${this.#channelKey(channel)}:h`, author),
    );
    if (head === null || head === undefined) return null;
    const match = /^(\d+) (\d+) (\d+)$/.exec(String(head));
    if (match === null) throw new Error(`Cannot parse stored head of ${author}: ${String(head)}`);
    return { contiguous: Number(match[1]), max: Number(match[2]), count: Number(match[3]) };
  }

  async ping(): Promise<void> {
    const pong = await this.#guard("ping", () => this.#redis.ping());
    if (pong !== "PONG") throw new StoreUnavailableError(`Upstash answered PING with ${pong}`);
  }

  /** Nothing to release: the client holds no connections of its own. */
  close(): Promise<void> {
    return Promise.resolve();
  }

  #channelKey(channel: string): string {
    return `${this.#prefix}{${channel}}`;
  }

  #scriptShas(): Promise<{ put: string; list: string }> {
    this.#shas ??= Promise.all([sha1Hex(PUT_SCRIPT), sha1Hex(LIST_SCRIPT)])
      .then(([put, list]) => ({ put, list }));
    return this.#shas;
  }

  async #guard<T>(what: string, work: () => Promise<T>): Promise<T> {
    try {
      return await work();
    } catch (error) {
      if (error instanceof StoreUnavailableError) throw error;
      // The client appends the whole command (every delta body) to its HTTP error messages.
      const message = String((error as Error)?.message ?? error);
      const short = message.length > ERROR_MESSAGE_CHARS_MAX
        ? `${message.slice(0, ERROR_MESSAGE_CHARS_MAX)}…`
        : message;
      throw new StoreUnavailableError(`Cannot ${what} as Upstash failed: ${short}`, {
        cause: error,
      });
    }
  }
}

/** Deltas come verified; the record format and key layout rely on these shapes. */
function assertStorable(d: StoredDelta): void {
  if (
    !CHANNEL_PATTERN.test(d.channel) || !BASE64URL.test(d.id) || !BASE64URL.test(d.author) ||
    !BASE64URL.test(d.sig) || !Number.isSafeInteger(d.seq) || d.seq < 1
  ) {
    throw new TypeError(`Cannot store delta ${d.id} as it is not a verified delta record`);
  }
}

/** Estimated bytes one delta adds to a request (JSON-escaped body and sig, keys, framing). */
function requestBytes(d: StoredDelta): number {
  return utf8ByteLength(JSON.stringify(d.body)) + d.sig.length + d.author.length + d.id.length +
    DELTA_OVERHEAD_BYTES;
}

/**
 * Groups a batch into requests of script calls: at most one call per channel in a request (so
 * calls of one request never depend on each other's order), each request within `bytesMax`.
 * A channel's deltas keep their input order across requests.
 */
export function planRequests(deltas: readonly StoredDelta[], bytesMax: number): Call[][] {
  const queues = new Map<string, number[]>();
  deltas.forEach((d, i) => {
    const queue = queues.get(d.channel);
    if (queue === undefined) queues.set(d.channel, [i]);
    else queue.push(i);
  });
  const requests: Call[][] = [];
  while (queues.size > 0) {
    const request: Call[] = [];
    let bytes = 0;
    for (const [channel, queue] of queues) {
      const call: Call = { channel, deltas: [], indices: [] };
      while (queue.length > 0) {
        const size = requestBytes(deltas[queue[0]]);
        if (bytes + size > bytesMax && (request.length > 0 || call.deltas.length > 0)) break;
        bytes += size;
        const i = queue.shift()!;
        call.deltas.push(deltas[i]);
        call.indices.push(i);
      }
      if (call.deltas.length > 0) request.push(call);
      if (queue.length === 0) queues.delete(channel);
      if (bytes >= bytesMax) break;
    }
    requests.push(request);
  }
  return requests;
}

function isNoScript(error: string | undefined): boolean {
  return error !== undefined && error.includes("NOSCRIPT");
}

function parsePutReply(reply: unknown, count: number): PutOutcome[] {
  const tokens = String(reply).split(",");
  if (tokens.length !== count) {
    throw new StoreUnavailableError(
      `Upstash answered ${tokens.length} outcomes for ${count} deltas`,
    );
  }
  return tokens.map((token): PutOutcome => {
    if (token === "d") return { status: "duplicate" };
    if (token.startsWith("c")) return { status: "seq_conflict", existingId: token.slice(1) };
    const arrival = Number(token.slice(1));
    if (!token.startsWith("a") || !Number.isSafeInteger(arrival)) {
      throw new StoreUnavailableError(`Upstash answered an unknown outcome: ${token}`);
    }
    return { status: "accepted", arrival };
  });
}

/** Parses "<seq> <author> <sig> <body>" (the body is last, so it may contain spaces). */
function parseRecord(channel: string, id: string, record: string): StoredDelta {
  const a = record.indexOf(" ");
  const b = record.indexOf(" ", a + 1);
  const c = record.indexOf(" ", b + 1);
  if (a < 0 || b < 0 || c < 0) throw new Error(`Cannot parse stored record of delta ${id}`);
  return {
    id,
    channel,
    author: record.slice(a + 1, b),
    seq: Number(record.slice(0, a)),
    body: record.slice(c + 1),
    sig: record.slice(b + 1, c),
  };
}

async function sha1Hex(text: string): Promise<string> {
  const digest = await crypto.subtle.digest("SHA-1", new TextEncoder().encode(text));
  return Array.from(new Uint8Array(digest), (b) => b.toString(16).padStart(2, "0")).join("");
}
