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
 * and region-wide keys under the hash tag `{~region}` (`~` never occurs in a channel name):
 *   P{~region}:log:<s>:n  string last entry number n of region-log shard s ≥ 1 (region_log.ts)
 *   P{~region}:log:<s>    hash   n → "<origin> <channel> <id>"    (its entries)
 *   P{~region}:log:n, P{~region}:log  the same, of the legacy shard 0: the one log of a store
 *                      written before the log was sharded (read, never written)
 *   P{~region}:equivocations  sorted set, score n (its number, region-wide):
 *                      "<n> <author> <seq> <id> <existing id> <channel>"
 *   P{~region}:equivocations:n  string last equivocation number (new ones go above log:n too)
 *   P{~region}:cursors hash   name → n                            (named cursors)
 *   P{~region}:leases  hash   name → "<epoch> <expiresAtMs> <holder>"
 *   P{~region}:nonce:<nonce>  string, with an expiry: a claimed region-message nonce
 * the store index under the hash tag `{~index}` (layout in `_upstash_index.ts`), blobs under
 * `{~blobs}` (`_upstash_blobs.ts`), and token
 * buckets under their own hash tag, so one script call may touch many of them:
 *   P{~rate}:<bucket>  string "<tokens> <atMs>", expiring          (token bucket)
 *
 * `putDeltas` sends one Lua script call per channel, all calls of a request in one `/pipeline`
 * request, so a push costs one round trip (two when redis lost the script and EVAL resends it).
 * Each script call is atomic, and it classifies its deltas in order, so a repeat or a rival
 * within the batch is seen as `duplicate` or `seq_conflict`; the same call appends the accepted
 * ones to the region log (the instance's data shard, or the gating shard for `_certificates`), so
 * log and deltas commit together. The replay guard makes a request
 * that `@upstash/redis` retries after a network error (it retries when `fetch` throws, even if
 * redis already ran the script) answer the outcomes of the first run instead of `duplicate`, and
 * log nothing twice. Every other method is one request too (two on a cold script cache).
 *
 * Token buckets use our own script (`TOKEN_SCRIPT`) rather than `@upstash/ratelimit`: that library
 * reads `Date.now()` itself (the caller's clock, which tests and the region's reputation need,
 * cannot be passed), refills in whole intervals, fixes the limit per limiter object (a throttled
 * author needs a smaller one per call), and draws one identifier per call — a push charging up to
 * 256 authors would cost as many script calls. One script call draws any number of buckets in
 * order, in one round trip.
 *
 * Because a put script touches both its channel's keys and the region log's, its keys span two
 * hash tags: fine on Upstash's regional and global databases (one shard), but not cluster-safe —
 * on Redis Cluster the call would fail with CROSSSLOT.
 */
import { Redis } from "@upstash/redis";
import {
  connectionSchema,
  LIST_PAGE_BYTES_DEFAULT,
  PUT_REQUEST_BYTES_DEFAULT,
  REPLAY_GUARD_TTL_SECONDS,
  tuningSchema,
  upstashClient,
  type UpstashStoreOptions,
  type UpstashStoreTuning,
  validate,
} from "./_upstash_options.ts";
import {
  assertArrivalCounts,
  assertChangeMarks,
  assertCursorAdvance,
  assertCursorNames,
  assertLeaseRequest,
  assertLogPage,
  assertName,
  LOG_PAGE_ENTRIES_MAX,
} from "./_store_args.ts";
import { UpstashBlobs } from "./_upstash_blobs.ts";
import { UpstashIndex } from "./_upstash_index.ts";
import { UpstashDeltaWriter, upstashLogKey, type UpstashPutStats } from "./_upstash_put.ts";
import { assertLogShard, LOG_SHARDS, logTotal } from "./region_log.ts";
import { UpstashRunner } from "./_upstash_runner.ts";
import {
  CURSOR_SCRIPT,
  EQUIVOCATIONS_SCRIPT,
  HEAD_SCRIPT,
  LEASE_SCRIPT,
  LIST_SCRIPT,
  LOG_SCRIPT,
  MARKS_SCRIPT,
  RELEASE_SCRIPT,
  TOKEN_SCRIPT,
} from "./_upstash_scripts.ts";
import {
  assertTokenRequests,
  TOKEN_BUCKET_TTL_MARGIN_MS,
  TOKEN_BUCKET_TTL_MS_MAX,
} from "./_token_bucket.ts";
import {
  parseEquivocation,
  parseGrant,
  parseLease,
  parseLogEntry,
  parseRecord,
} from "./_upstash_wire.ts";
import {
  type ArrivalPage,
  type ArrivedDelta,
  type AuthorHead,
  type ChangeMarks,
  type DeltaOrigin,
  type EquivocationPage,
  type IndexKey,
  type IndexListOptions,
  type IndexPage,
  type IndexWrite,
  type Lease,
  type LogPage,
  type PutOutcome,
  type RegionStore,
  type StoredDelta,
  StoreUnavailableError,
  type TokenGrant,
  type TokenRequest,
} from "./region_store.ts";

export { planRequests } from "./_upstash_wire.ts";

export { REPLAY_GUARD_TTL_SECONDS, type UpstashStoreOptions, type UpstashStoreTuning };
export type { UpstashPutStats };

export class UpstashStore implements RegionStore {
  readonly kind = "upstash";
  readonly #redis: Redis;
  readonly #prefix: string;
  readonly #putBytesMax: number;
  readonly #pageBytesMax: number;
  readonly #run: UpstashRunner;
  readonly #index: UpstashIndex;
  readonly blobs: UpstashBlobs;
  readonly #writer: UpstashDeltaWriter;

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
      this.#redis = upstashClient(options);
    }
    this.#run = new UpstashRunner(this.#redis);
    const checked = validate(tuningSchema, tuning);
    this.#prefix = checked.prefix ?? "mesh:";
    this.#putBytesMax = checked.putRequestBytesMax ?? PUT_REQUEST_BYTES_DEFAULT;
    this.#pageBytesMax = checked.listPageBytesMax ?? LIST_PAGE_BYTES_DEFAULT;
    this.#index = new UpstashIndex(this.#run, this.#prefix, this.#pageBytesMax);
    this.blobs = new UpstashBlobs(this.#run, this.#prefix);
    this.#writer = new UpstashDeltaWriter(this.#run, this.#prefix, this.#putBytesMax);
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

  /** How this instance's delta writes went since it opened (a copy). */
  get putStats(): UpstashPutStats {
    return this.#writer.stats;
  }

  putDeltas(deltas: readonly StoredDelta[], origin: DeltaOrigin = "agent"): Promise<PutOutcome[]> {
    return this.#writer.put(deltas, origin);
  }

  async getDelta(channel: string, id: string): Promise<StoredDelta | null> {
    const record = await this.#run.guard(
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
    const base = this.#channelKey(channel);
    const items = await this.#run.script("list arrivals", LIST_SCRIPT, [`${base}:d`, `${base}:a`], [
      String(after),
      String(limit),
      String(this.#pageBytesMax),
    ]) as unknown[];
    const total = Number(items[0]);
    const deltas: ArrivedDelta[] = [];
    for (let i = 1; i + 1 < items.length; i += 2) {
      const delta = parseRecord(channel, String(items[i]), String(items[i + 1]));
      deltas.push({ ...delta, arrival: after + deltas.length + 1 });
    }
    const cursor = after + deltas.length;
    return { deltas, cursor, more: total > cursor };
  }

  /** Each channel's arrival list length (`LLEN`), all in one pipeline request. */
  async arrivalCounts(channels: readonly string[]): Promise<number[]> {
    assertArrivalCounts(channels);
    if (channels.length === 0) return [];
    const replies = await this.#run.guard(
      "count arrivals",
      () => this.#run.exec(channels, (p, channel) => p.llen(`${this.#channelKey(channel)}:a`)),
    );
    return replies.map((r) => {
      if (r.error) throw new StoreUnavailableError(`Upstash rejected LLEN: ${r.error}`);
      return Number(r.result);
    });
  }

  /** The channels' arrival list lengths and the equivocation counter, in one script (one step). */
  async changeMarks(channels: readonly string[]): Promise<ChangeMarks> {
    assertChangeMarks(channels);
    const keys = [
      ...channels.map((channel) => `${this.#channelKey(channel)}:a`),
      this.#regionKey("equivocations:n"),
    ];
    const marks = (await this.#run.script("read change marks", MARKS_SCRIPT, keys, []) as unknown[])
      .map(Number);
    return { arrivals: marks.slice(0, -1), equivocations: marks.at(-1)! };
  }

  /** The author's head, repaired and stored again when an older version left it short. */
  async getHead(channel: string, author: string): Promise<AuthorHead | null> {
    const base = this.#channelKey(channel);
    const head = await this.#run.script("read a head", HEAD_SCRIPT, [
      `${base}:h`,
      `${base}:s:${author}`,
    ], [author]);
    if (head === null || head === undefined) return null;
    const match = /^(\d+) (\d+) (\d+)$/.exec(String(head));
    if (match === null) throw new Error(`Cannot parse stored head of ${author}: ${String(head)}`);
    return { contiguous: Number(match[1]), max: Number(match[2]), count: Number(match[3]) };
  }

  async listEquivocations(after: number, limit: number): Promise<EquivocationPage> {
    assertLogPage(after, limit);
    const take = Math.min(limit, LOG_PAGE_ENTRIES_MAX);
    const items = await this.#run.script(
      "list equivocations",
      EQUIVOCATIONS_SCRIPT,
      [this.#regionKey("equivocations")],
      [String(after), String(take)],
    ) as unknown[];
    const entries = items.map((item) => parseEquivocation(String(item)));
    const more = entries.length > take;
    if (more) entries.pop();
    return { entries, cursor: entries.at(-1)?.n ?? after, more };
  }

  async listLog(shard: number, after: number, limit: number): Promise<LogPage> {
    assertLogShard(shard);
    assertLogPage(after, limit);
    const log = upstashLogKey(this.#prefix, shard);
    const take = Math.min(limit, LOG_PAGE_ENTRIES_MAX);
    const items = await this.#run.script("list the region log", LOG_SCRIPT, [`${log}:n`, log], [
      String(after),
      String(take),
    ]) as unknown[];
    const last = Number(items[0]);
    const entries = items.slice(1).map((item, i) =>
      parseLogEntry(shard, after + i + 1, String(item))
    );
    const cursor = after + entries.length;
    return { entries, cursor, more: last > cursor };
  }

  /** Every shard's counter in one MGET. */
  async logHeads(): Promise<number[]> {
    const keys = Array.from(
      { length: LOG_SHARDS },
      (_, shard) => `${upstashLogKey(this.#prefix, shard)}:n`,
    );
    const heads = await this.#run.guard(
      "read the region log heads",
      () => this.#redis.mget<(string | null)[]>(...keys),
    );
    return heads.map((n) => n === null || n === undefined ? 0 : Number(n));
  }

  async logHead(): Promise<number> {
    return logTotal(await this.logHeads());
  }

  /** The cursors in one HMGET. */
  async getCursors(names: readonly string[]): Promise<number[]> {
    assertCursorNames(names);
    if (names.length === 0) return [];
    const [reply] = await this.#run.guard(
      "read cursors",
      () => this.#run.exec([0], (p) => p.hmget(this.#regionKey("cursors"), ...names)),
    );
    if (reply.error) throw new StoreUnavailableError(`Upstash rejected HMGET: ${reply.error}`);
    // Raw, HMGET answers a list in field order; a client that deserializes makes it an object
    // by field (null when no field is set).
    const at = reply.result ?? [];
    return names.map((name, i) => {
      const n = Array.isArray(at) ? at[i] : (at as Record<string, unknown>)[name];
      return n === null || n === undefined ? 0 : Number(n);
    });
  }

  async getCursor(name: string): Promise<number> {
    assertName("cursor name", name);
    const at = await this.#run.guard(
      "read a cursor",
      () => this.#redis.hget(this.#regionKey("cursors"), name),
    );
    return at === null || at === undefined ? 0 : Number(at);
  }

  async advanceCursor(name: string, n: number): Promise<number> {
    assertCursorAdvance(name, n);
    const keys = [this.#regionKey("cursors")];
    return Number(
      await this.#run.script("advance a cursor", CURSOR_SCRIPT, keys, [name, String(n)]),
    );
  }

  async acquireLease(name: string, holder: string, ttlMs: number, nowMs: number): Promise<Lease> {
    assertLeaseRequest(name, holder, ttlMs, nowMs);
    const keys = [this.#regionKey("leases")];
    const args = [name, holder, String(ttlMs), String(nowMs)];
    return parseLease(String(await this.#run.script("acquire a lease", LEASE_SCRIPT, keys, args)));
  }

  async releaseLease(name: string, holder: string): Promise<void> {
    assertName("lease name", name);
    await this.#run.script("release a lease", RELEASE_SCRIPT, [this.#regionKey("leases")], [
      name,
      holder,
    ]);
  }

  async claimNonce(nonce: string, ttlMs: number, nowMs: number): Promise<boolean> {
    assertName("nonce", nonce);
    void nowMs; // Redis expires the key itself
    const claimed = await this.#run.guard(
      "claim a nonce",
      () =>
        this.#redis.set(this.#regionKey(`nonce:${nonce}`), "1", {
          nx: true,
          px: Math.max(1, Math.ceil(ttlMs)),
        }),
    );
    return claimed !== null && claimed !== undefined;
  }

  async getLease(name: string): Promise<Lease | null> {
    assertName("lease name", name);
    const lease = await this.#run.guard(
      "read a lease",
      () => this.#redis.hget(this.#regionKey("leases"), name),
    );
    return lease === null || lease === undefined ? null : parseLease(String(lease));
  }

  async takeTokensMany(requests: readonly TokenRequest[], nowMs: number): Promise<TokenGrant[]> {
    assertTokenRequests(requests, nowMs);
    if (requests.length === 0) return [];
    const keys: string[] = [];
    const index = new Map<string, number>();
    const args = [String(TOKEN_BUCKET_TTL_MARGIN_MS), String(TOKEN_BUCKET_TTL_MS_MAX)];
    for (const { bucket, cost, ratePerSecond, burst } of requests) {
      let k = index.get(bucket);
      if (k === undefined) {
        index.set(bucket, k = keys.push(`${this.#prefix}{~rate}:${bucket}`));
      }
      args.push(String(k), String(nowMs), String(cost), String(ratePerSecond), String(burst));
    }
    const reply = await this.#run.script("take tokens", TOKEN_SCRIPT, keys, args);
    if (!Array.isArray(reply) || reply.length !== requests.length) {
      throw new StoreUnavailableError(`Upstash answered a token draw with ${String(reply)}`);
    }
    return reply.map((item) => parseGrant(String(item)));
  }

  writeIndex(write: IndexWrite): Promise<boolean> {
    return this.#index.write(write);
  }

  readIndex(keys: readonly IndexKey[]): Promise<(string | null)[]> {
    return this.#index.read(keys);
  }

  listIndex(prefix: IndexKey, options: IndexListOptions): Promise<IndexPage> {
    return this.#index.list(prefix, options);
  }

  async ping(): Promise<void> {
    const pong = await this.#run.guard("ping", () => this.#redis.ping());
    if (pong !== "PONG") throw new StoreUnavailableError(`Upstash answered PING with ${pong}`);
  }

  /** Nothing to release: the client holds no connections of its own. */
  close(): Promise<void> {
    return Promise.resolve();
  }

  #channelKey(channel: string): string {
    return `${this.#prefix}{${channel}}`;
  }

  /** A region-wide key: outside every channel's hash tag (see the module doc). */
  #regionKey(name: string): string {
    return `${this.#prefix}{~region}:${name}`;
  }
}
