/**
 * The store index on Upstash Redis, under the hash tag `{~index}` (`P` = prefix):
 *   P{~index}:values  hash        key → value            (keys joined by NUL)
 *   P{~index}:keys    sorted set  every key, score 0, listed by ZRANGEBYLEX
 *   P{~index}:r:<uuid>  string    outcome of one write, 60 s (replay guard, as for deltas)
 * Redis orders members of equal score by their bytes; elements hold no NUL and NUL is the
 * smallest byte, so a key sorts right before its extensions and the order is `compareIndexKeys`.
 * The keys under prefix `p` are the members from `[p` to `(p\x01`: `p` itself, then `p\0…`.
 * Each method is one script call, so a write checks its expectations and writes atomically.
 */
import {
  assertIndexList,
  assertIndexRead,
  assertIndexWrite,
  cursorPlace,
  joinIndexKey,
  splitIndexKey,
} from "./_index_args.ts";
import { INDEX_PAGE_ENTRIES_MAX } from "./index_limits.ts";
import { REPLAY_GUARD_TTL_SECONDS } from "./_upstash_options.ts";
import type { UpstashRunner } from "./_upstash_runner.ts";
import {
  type IndexEntry,
  type IndexKey,
  type IndexListOptions,
  type IndexPage,
  type IndexWrite,
  StoreUnavailableError,
} from "./region_store.ts";

/**
 * Applies one index write if its expectations hold. KEYS: values, keys, replay guard. ARGV:
 * guard TTL, number of expectations, number of deletes, then per expectation its key and "" for
 * absent or "=" and the value, then the keys to delete, then key and value per set. Returns 1
 * when written, 0 when an expectation failed (nothing written). A replayed call writes nothing
 * and answers as the first did.
 */
export const INDEX_WRITE_SCRIPT = `
local done = redis.call('GET', KEYS[3])
if done then return tonumber(done) end
local expected, deletes = tonumber(ARGV[2]), tonumber(ARGV[3])
local i, ok = 4, 1
for _ = 1, expected do
  local current = redis.call('HGET', KEYS[1], ARGV[i])
  local want = ARGV[i + 1]
  if want == '' then
    if current then ok = 0 end
  elseif current ~= string.sub(want, 2) then
    ok = 0
  end
  i = i + 2
end
if ok == 1 then
  for _ = 1, deletes do
    redis.call('HDEL', KEYS[1], ARGV[i])
    redis.call('ZREM', KEYS[2], ARGV[i])
    i = i + 1
  end
  for j = i, #ARGV, 2 do
    redis.call('HSET', KEYS[1], ARGV[j], ARGV[j + 1])
    redis.call('ZADD', KEYS[2], 0, ARGV[j])
  end
end
redis.call('SET', KEYS[3], ok, 'EX', ARGV[1])
return ok
`;

/** KEYS: values. ARGV: the keys. Returns their values, nil where absent. */
export const INDEX_READ_SCRIPT = `return redis.call('HMGET', KEYS[1], unpack(ARGV))`;

/**
 * Lists keys and values in lex order. KEYS: keys, values. ARGV: min, max (ZRANGEBYLEX bounds),
 * "1" for descending, most members to take, most bytes of keys and values to answer (at least
 * one entry is answered). Returns the number of members taken, then key and value per entry.
 */
export const INDEX_LIST_SCRIPT = `
local members
if ARGV[3] == '1' then
  members = redis.call('ZREVRANGEBYLEX', KEYS[1], ARGV[2], ARGV[1], 'LIMIT', 0, ARGV[4])
else
  members = redis.call('ZRANGEBYLEX', KEYS[1], ARGV[1], ARGV[2], 'LIMIT', 0, ARGV[4])
end
local out, bytes, budget = { #members }, 0, tonumber(ARGV[5])
for _, member in ipairs(members) do
  local value = redis.call('HGET', KEYS[2], member)
  bytes = bytes + #member + #value
  if #out > 1 and bytes > budget then break end
  out[#out + 1] = member
  out[#out + 1] = value
end
return out
`;

/** The index methods of `UpstashStore`: arguments are checked before the store is touched. */
export class UpstashIndex {
  readonly #run: UpstashRunner;
  /** `P{~index}`. */
  readonly #base: string;
  /** Most bytes of keys and values in one page (a page holds at least one entry). */
  readonly #pageBytesMax: number;

  constructor(run: UpstashRunner, prefix: string, pageBytesMax: number) {
    this.#run = run;
    this.#base = `${prefix}{~index}`;
    this.#pageBytesMax = pageBytesMax;
  }

  async write(write: IndexWrite): Promise<boolean> {
    assertIndexWrite(write);
    const expect = write.expect ?? [], del = write.delete ?? [];
    const args = [String(REPLAY_GUARD_TTL_SECONDS), String(expect.length), String(del.length)];
    for (const e of expect) args.push(joinIndexKey(e.key), e.value === null ? "" : `=${e.value}`);
    for (const key of del) args.push(joinIndexKey(key));
    for (const e of write.set ?? []) args.push(joinIndexKey(e.key), e.value);
    const keys = [this.#values, this.#keys, `${this.#base}:r:${crypto.randomUUID()}`];
    const reply = Number(
      await this.#run.script("write the store index", INDEX_WRITE_SCRIPT, keys, args),
    );
    if (reply !== 0 && reply !== 1) {
      throw new StoreUnavailableError(`Upstash answered an index write with ${reply}`);
    }
    return reply === 1;
  }

  async read(keys: readonly IndexKey[]): Promise<(string | null)[]> {
    assertIndexRead(keys);
    if (keys.length === 0) return [];
    const reply = await this.#run.script(
      "read the store index",
      INDEX_READ_SCRIPT,
      [this.#values],
      keys.map(joinIndexKey),
    );
    if (!Array.isArray(reply) || reply.length !== keys.length) {
      throw new StoreUnavailableError(`Upstash answered an index read with ${String(reply)}`);
    }
    return reply.map((v) => v === null || v === undefined ? null : String(v));
  }

  async list(prefix: IndexKey, options: IndexListOptions): Promise<IndexPage> {
    const { after, limit, reverse = false } = options;
    assertIndexList(prefix, limit, after);
    const place = cursorPlace(prefix, after, reverse);
    if (place === "none") return { entries: [], more: false };
    const p = joinIndexKey(prefix);
    let min = prefix.length === 0 ? "-" : `[${p}`, max = prefix.length === 0 ? "+" : `(${p}\u0001`;
    if (place === "within" && reverse) max = `(${joinIndexKey(after!)}`;
    if (place === "within" && !reverse) min = `(${joinIndexKey(after!)}`;
    const take = Math.min(limit, INDEX_PAGE_ENTRIES_MAX);
    const args = [min, max, reverse ? "1" : "0", String(take + 1), String(this.#pageBytesMax)];
    const reply = await this.#run.script("list the store index", INDEX_LIST_SCRIPT, [
      this.#keys,
      this.#values,
    ], args);
    if (!Array.isArray(reply) || reply.length % 2 !== 1) {
      throw new StoreUnavailableError(`Upstash answered an index listing with ${String(reply)}`);
    }
    const entries: IndexEntry[] = [];
    for (let i = 1; i < reply.length && entries.length < take; i += 2) {
      entries.push({ key: splitIndexKey(String(reply[i])), value: String(reply[i + 1]) });
    }
    return { entries, more: Number(reply[0]) > entries.length };
  }

  get #values(): string {
    return `${this.#base}:values`;
  }

  get #keys(): string {
    return `${this.#base}:keys`;
  }
}
