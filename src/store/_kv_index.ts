/**
 * The store index on Deno KV: `[...prefix, "x", ...key]` → value (a string).
 *
 * A write reads its expected keys, compares their values, and commits its sets and deletes in
 * one atomic operation that checks the versionstamps it read: a rival write in between fails the
 * commit, and the write is decided again on fresh reads (bounded by `backOff`). Keys order as
 * `compareIndexKeys` says, since Deno KV orders string parts by their UTF-8 bytes and a key
 * before its extensions.
 */
import {
  backOff,
  commitOrContend,
  KV_ATOMIC_BYTES_MAX,
  KV_ATOMIC_CHECKS_MAX,
  KV_ATOMIC_KEY_BYTES_MAX,
  KV_ATOMIC_MUTATIONS_MAX,
  KV_KEY_BYTES_MAX,
  KV_VALUE_BYTES_MAX,
} from "./_kv_atomic.ts";
import { KV_GET_MANY_KEYS_MAX } from "./_kv_plan_input.ts";
import {
  assertIndexList,
  assertIndexRead,
  assertIndexWrite,
  cursorPlace,
  joinIndexKey,
} from "./_index_args.ts";
import {
  INDEX_KEY_BYTES_MAX,
  INDEX_KEY_PARTS_MAX,
  INDEX_PAGE_ENTRIES_MAX,
  INDEX_VALUE_CHARS_MAX,
  INDEX_WRITE_EXPECT_MAX,
  INDEX_WRITE_KEYS_MAX,
  INDEX_WRITE_VALUE_CHARS_MAX,
} from "./index_limits.ts";
import { utf8ByteLength } from "../protocol/utf8.ts";
import type {
  IndexEntry,
  IndexKey,
  IndexListOptions,
  IndexPage,
  IndexWrite,
} from "./region_store.ts";

/** Bytes of a serialized string value besides its characters (V8's header, tag and length). */
const KV_STRING_OVERHEAD_BYTES = 8;

if (INDEX_WRITE_EXPECT_MAX > KV_ATOMIC_CHECKS_MAX) {
  throw new Error("INDEX_WRITE_EXPECT_MAX must fit Deno KV's checks per atomic operation");
}
if (INDEX_WRITE_KEYS_MAX > KV_ATOMIC_MUTATIONS_MAX) {
  throw new Error("INDEX_WRITE_KEYS_MAX must fit Deno KV's mutations per atomic operation");
}
if (kvStringBytes(INDEX_VALUE_CHARS_MAX) > KV_VALUE_BYTES_MAX) {
  throw new Error("INDEX_VALUE_CHARS_MAX must fit a Deno KV value");
}
/**
 * Store-prefix bytes any allowed index write leaves room for; under a longer prefix a write may
 * not fit, and `assertFits` refuses it.
 */
const KV_PREFIX_ROOM_BYTES = 64;
/** Bytes of the largest index key with that prefix: ["x", ...key], a tag and an end a part. */
const KV_INDEX_KEY_BYTES_MAX = KV_PREFIX_ROOM_BYTES + 3 + INDEX_KEY_BYTES_MAX +
  2 * INDEX_KEY_PARTS_MAX;
if (INDEX_WRITE_KEYS_MAX * KV_INDEX_KEY_BYTES_MAX > KV_ATOMIC_KEY_BYTES_MAX) {
  throw new Error("INDEX_WRITE_KEYS_MAX keys must fit Deno KV's key bytes per atomic operation");
}
// Keys count once as keys and once more with the value they set.
if (
  2 * INDEX_WRITE_KEYS_MAX * KV_INDEX_KEY_BYTES_MAX + kvStringBytes(INDEX_WRITE_VALUE_CHARS_MAX) +
      INDEX_WRITE_KEYS_MAX * KV_STRING_OVERHEAD_BYTES > KV_ATOMIC_BYTES_MAX
) {
  throw new Error("the largest index write must fit Deno KV's bytes per atomic operation");
}

/** Runs store work, turning its failures into StoreUnavailableError. */
type Guard = <T>(work: () => Promise<T>) => Promise<T>;

/** The index methods of `DenoKvStore`: arguments are checked before the store is touched. */
export class KvIndex {
  readonly #kv: Deno.Kv;
  /** The Deno KV key under which the index lies. */
  readonly #base: Deno.KvKey;
  readonly #guard: Guard;

  constructor(kv: Deno.Kv, base: Deno.KvKey, guard: Guard) {
    this.#kv = kv;
    this.#base = base;
    this.#guard = guard;
  }

  async write(write: IndexWrite): Promise<boolean> {
    assertIndexWrite(write);
    this.assertFits(write);
    return await this.#guard(() => this.#write(write));
  }

  async read(keys: readonly IndexKey[]): Promise<(string | null)[]> {
    assertIndexRead(keys);
    return await this.#guard(async () => (await this.#getMany(keys)).map((e) => e.value));
  }

  async list(prefix: IndexKey, options: IndexListOptions): Promise<IndexPage> {
    assertIndexList(prefix, options.limit, options.after);
    return await this.#guard(() => this.#list(prefix, options));
  }

  /**
   * Throws RangeError when `write` (already checked by `assertIndexWrite`) would not fit one
   * atomic operation: only possible under a store prefix of many bytes.
   */
  assertFits(write: IndexWrite): void {
    const keyBytes = (key: IndexKey) => kvKeyBytes(this.#key(key));
    const keys = [
      ...(write.expect ?? []).map((e) => e.key),
      ...(write.set ?? []).map((e) => e.key),
      ...(write.delete ?? []),
    ].map(keyBytes);
    const keysTotal = keys.reduce((a, b) => a + b, 0);
    const setBytes = (write.set ?? []).reduce(
      (sum, e) => sum + keyBytes(e.key) + kvStringBytes(e.value.length),
      0,
    );
    if (
      keys.some((b) => b > KV_KEY_BYTES_MAX) || keysTotal > KV_ATOMIC_KEY_BYTES_MAX ||
      keysTotal + setBytes > KV_ATOMIC_BYTES_MAX
    ) {
      throw new RangeError(
        `Cannot write ${keys.length} index keys (${keysTotal} key bytes) in one Deno KV atomic ` +
          `operation: at most ${KV_KEY_BYTES_MAX} bytes a key, ${KV_ATOMIC_KEY_BYTES_MAX} in all`,
      );
    }
  }

  async #write(write: IndexWrite): Promise<boolean> {
    const expect = write.expect ?? [];
    const expected = [...new Map(expect.map((e) => [joinIndexKey(e.key), e.key])).values()];
    for (let attempt = 1;; attempt++) {
      const entries = await this.#getMany(expected);
      const current = new Map(expected.map((k, i) => [joinIndexKey(k), entries[i].value]));
      if (expect.some((e) => (current.get(joinIndexKey(e.key)) ?? null) !== e.value)) {
        return false;
      }
      const op = this.#kv.atomic();
      for (const entry of entries) op.check(entry);
      for (const key of write.delete ?? []) op.delete(this.#key(key));
      for (const { key, value } of write.set ?? []) op.set(this.#key(key), value);
      const committed = await commitOrContend(op);
      if (committed.ok) return true;
      await backOff(attempt, "write the store index");
    }
  }

  async #list(prefix: IndexKey, options: IndexListOptions): Promise<IndexPage> {
    const { after, limit, reverse = false } = options;
    const place = cursorPlace(prefix, after, reverse);
    if (place === "none") return { entries: [], more: false };
    // A key sorts before its extensions, and string parts before `true`: so [...prefix] to
    // [...prefix, true] holds exactly the keys under prefix, and [...after, ""] (no index key has
    // an empty part) is the first key past `after`.
    let start: Deno.KvKey = this.#key(prefix), end: Deno.KvKey = [...this.#key(prefix), true];
    if (place === "within" && reverse) end = this.#key(after!);
    if (place === "within" && !reverse) start = [...this.#key(after!), ""];
    const take = Math.min(limit, INDEX_PAGE_ENTRIES_MAX);
    const entries: IndexEntry[] = [];
    const iter = this.#kv.list<string>({ start, end }, { limit: take + 1, reverse });
    for await (const entry of iter) {
      entries.push({ key: entry.key.slice(this.#base.length) as string[], value: entry.value });
    }
    const more = entries.length > take;
    if (more) entries.pop();
    return { entries, more };
  }

  async #getMany(keys: readonly IndexKey[]): Promise<Deno.KvEntryMaybe<string>[]> {
    const batches: Promise<Deno.KvEntryMaybe<string>[]>[] = [];
    for (let i = 0; i < keys.length; i += KV_GET_MANY_KEYS_MAX) {
      const batch = keys.slice(i, i + KV_GET_MANY_KEYS_MAX).map((k) => this.#key(k));
      batches.push(this.#kv.getMany<string[]>(batch));
    }
    return (await Promise.all(batches)).flat();
  }

  #key(key: IndexKey): Deno.KvKey {
    return [...this.#base, ...key];
  }
}

/** Upper bound of a serialized string of `chars` UTF-16 code units (two bytes each at most). */
function kvStringBytes(chars: number): number {
  return chars * 2 + KV_STRING_OVERHEAD_BYTES;
}

/** Bytes of `key` as Deno KV encodes it: a tag and a terminator or a fixed width per part. */
function kvKeyBytes(key: Deno.KvKey): number {
  let bytes = 0;
  for (const part of key) {
    // NUL bytes in a string or byte part are escaped with one more byte each.
    if (typeof part === "string") bytes += utf8ByteLength(part) + 2 + part.split("\0").length - 1;
    else if (part instanceof Uint8Array) bytes += part.length * 2 + 2;
    else if (typeof part === "bigint") bytes += 2 + part.toString(16).length / 2;
    else bytes += 9;
  }
  return bytes;
}
