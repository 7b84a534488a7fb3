/**
 * The contract of the store index (`writeIndex`, `readIndex`, `listIndex`) that every store
 * shares: its limits, the checks of its arguments (programmer errors throw), and the order of
 * keys, so the three stores list alike.
 *
 * The limits themselves are public, in `index_limits.ts`.
 */
import { utf8ByteLength } from "../protocol/utf8.ts";
import type { IndexKey, IndexWrite } from "./region_store.ts";
import {
  INDEX_KEY_BYTES_MAX,
  INDEX_KEY_PART_CHARS_MAX,
  INDEX_KEY_PARTS_MAX,
  INDEX_READ_KEYS_MAX,
  INDEX_VALUE_CHARS_MAX,
  INDEX_WRITE_EXPECT_MAX,
  INDEX_WRITE_KEYS_MAX,
  INDEX_WRITE_VALUE_CHARS_MAX,
} from "./index_limits.ts";

export function assertIndexKey(key: IndexKey, what = "index key"): void {
  const ok = Array.isArray(key) && key.length >= 1 && key.length <= INDEX_KEY_PARTS_MAX &&
    key.every((p) =>
      typeof p === "string" && p.length >= 1 && p.length <= INDEX_KEY_PART_CHARS_MAX &&
      !p.includes("\u0000") && p.isWellFormed()
    ) && key.reduce((sum, p) => sum + utf8ByteLength(p), 0) <= INDEX_KEY_BYTES_MAX;
  if (!ok) {
    throw new TypeError(
      `Cannot use ${what} ${JSON.stringify(key)}: 1 to ${INDEX_KEY_PARTS_MAX} well-formed ` +
        `strings of 1 to ${INDEX_KEY_PART_CHARS_MAX} characters without NUL, ` +
        `${INDEX_KEY_BYTES_MAX} UTF-8 bytes in all`,
    );
  }
}

export function assertIndexWrite(write: IndexWrite): void {
  const expect = write.expect ?? [], set = write.set ?? [], del = write.delete ?? [];
  const count = expect.length + set.length + del.length;
  if (count > INDEX_WRITE_KEYS_MAX) {
    throw new RangeError(
      `Cannot write ${count} index keys at once: at most ${INDEX_WRITE_KEYS_MAX}`,
    );
  }
  if (expect.length > INDEX_WRITE_EXPECT_MAX) {
    throw new RangeError(
      `Cannot expect ${expect.length} index keys at once: at most ${INDEX_WRITE_EXPECT_MAX}`,
    );
  }
  for (const e of expect) {
    assertIndexKey(e.key, "expected index key");
    if (e.value !== null) assertIndexValue(e.value);
  }
  for (const e of set) {
    assertIndexKey(e.key);
    assertIndexValue(e.value);
  }
  for (const k of del) assertIndexKey(k);
  const chars = set.reduce((sum, e) => sum + e.value.length, 0);
  if (chars > INDEX_WRITE_VALUE_CHARS_MAX) {
    throw new RangeError(
      `Cannot set ${chars} characters of index values at once: at most ${INDEX_WRITE_VALUE_CHARS_MAX}`,
    );
  }
  const written = [...set.map((e) => e.key), ...del].map(joinIndexKey);
  if (new Set(written).size !== written.length) {
    throw new TypeError("Cannot write one index key twice in one write");
  }
}

export function assertIndexValue(value: string): void {
  if (typeof value !== "string" || value.length > INDEX_VALUE_CHARS_MAX || !value.isWellFormed()) {
    throw new TypeError(
      `Cannot store an index value that is not a well-formed string of at most ${INDEX_VALUE_CHARS_MAX} characters`,
    );
  }
}

export function assertIndexRead(keys: readonly IndexKey[]): void {
  if (keys.length > INDEX_READ_KEYS_MAX) {
    throw new RangeError(
      `Cannot read ${keys.length} index keys at once: at most ${INDEX_READ_KEYS_MAX}`,
    );
  }
  for (const k of keys) assertIndexKey(k);
}

export function assertIndexList(prefix: IndexKey, limit: number, after?: IndexKey): void {
  if (!Array.isArray(prefix)) throw new TypeError("Cannot list an index under a non-array prefix");
  if (prefix.length > 0) assertIndexKey(prefix, "index prefix");
  if (after !== undefined) assertIndexKey(after, "index cursor");
  if (!Number.isSafeInteger(limit) || limit < 1) {
    throw new RangeError(`Cannot list an index with limit ${limit}: a positive integer`);
  }
}

/** A key as one string that sorts like the key: elements joined by NUL, which they never hold. */
export function joinIndexKey(key: IndexKey): string {
  return key.join("\u0000");
}

/** The key `joinIndexKey` joined. */
export function splitIndexKey(joined: string): IndexKey {
  return joined.split("\u0000");
}

const encoder = new TextEncoder();

/**
 * The order of index keys in every store: element by element, each by its UTF-8 bytes (Deno KV's
 * and Redis's order), a key before every key it is a prefix of.
 */
export function compareIndexKeys(a: IndexKey, b: IndexKey): number {
  for (let i = 0; i < Math.min(a.length, b.length); i++) {
    const c = compareUtf8(a[i], b[i]);
    if (c !== 0) return c;
  }
  return a.length - b.length;
}

function compareUtf8(a: string, b: string): number {
  if (a === b) return 0;
  const x = encoder.encode(a), y = encoder.encode(b);
  for (let i = 0; i < Math.min(x.length, y.length); i++) if (x[i] !== y[i]) return x[i] - y[i];
  return x.length - y.length;
}

/** Whether `key` starts with `prefix`. */
export function hasIndexPrefix(key: IndexKey, prefix: IndexKey): boolean {
  return prefix.length <= key.length && prefix.every((p, i) => key[i] === p);
}

/**
 * Where a listing's cursor lies against the keys under `prefix`, in the listing's direction:
 * `all` when every such key comes after it (or there is no cursor), `none` when none does, and
 * `within` when the cursor is itself under `prefix` and the listing starts just past it.
 */
export function cursorPlace(
  prefix: IndexKey,
  after: IndexKey | undefined,
  reverse: boolean,
): "all" | "none" | "within" {
  if (after === undefined) return "all";
  if (hasIndexPrefix(after, prefix)) return "within";
  // Not under the prefix: the cursor is before every key under it, or after every one.
  const before = compareIndexKeys(after, prefix) < 0;
  return before !== reverse ? "all" : "none";
}
