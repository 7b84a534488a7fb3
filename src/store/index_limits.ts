/**
 * The limits of the store index (`writeIndex`, `readIndex`, `listIndex`) that every store shares,
 * public so that callers can size their writes to them.
 *
 * They are set so that any write they allow fits one Deno KV atomic operation (at most
 * 100 checks, 1,000 mutations, 2,048 bytes per key, 64 KiB per value, 80 KiB of keys and
 * 800 KiB in all) and one Upstash request with room to spare; `_kv_index.ts` asserts the sums.
 */

/** Most elements in one index key. */
export const INDEX_KEY_PARTS_MAX = 8;
/** Longest element of an index key, in UTF-16 code units; elements are non-empty. */
export const INDEX_KEY_PART_CHARS_MAX = 256;
/**
 * Most UTF-8 bytes of one key's elements together. Deno KV refuses keys past 2,048 bytes and an
 * atomic operation whose keys pass 80 KiB: INDEX_WRITE_KEYS_MAX keys of this size, with their
 * encoding and a store prefix, stay under both.
 */
export const INDEX_KEY_BYTES_MAX = 512;
/**
 * Longest index value, in UTF-16 code units. Deno KV stores a string that is not Latin-1 at two
 * bytes a unit and refuses values past 64 KiB, so this is half of that with room for framing.
 */
export const INDEX_VALUE_CHARS_MAX = 16_384;
/**
 * Most keys one `writeIndex` may expect, set and delete in all. Each is a check or a mutation of
 * one Deno KV atomic operation (at most 1,000 mutations, 80 KiB of keys).
 */
export const INDEX_WRITE_KEYS_MAX = 128;
/** Most expectations in one `writeIndex`: each is one check, and Deno KV allows 100 an operation. */
export const INDEX_WRITE_EXPECT_MAX = 64;
/**
 * Most UTF-16 code units of the values one `writeIndex` sets, together: at two bytes a unit in
 * Deno KV (256 KiB, under its 800 KiB an operation with the keys) and at most six on the JSON
 * wire to Upstash (768 KiB).
 */
export const INDEX_WRITE_VALUE_CHARS_MAX = 131_072;
/** Most keys one `readIndex` may ask for. */
export const INDEX_READ_KEYS_MAX = 256;
/**
 * Most entries one `listIndex` page may return. A store may return fewer (with `more`) to keep a
 * page's bytes bounded.
 */
export const INDEX_PAGE_ENTRIES_MAX = 1_000;

if (INDEX_WRITE_EXPECT_MAX > INDEX_WRITE_KEYS_MAX) {
  throw new Error("INDEX_WRITE_EXPECT_MAX must not exceed INDEX_WRITE_KEYS_MAX");
}
if (INDEX_KEY_PART_CHARS_MAX > INDEX_KEY_BYTES_MAX) {
  throw new Error("INDEX_KEY_PART_CHARS_MAX must not exceed INDEX_KEY_BYTES_MAX");
}
if (INDEX_VALUE_CHARS_MAX > INDEX_WRITE_VALUE_CHARS_MAX) {
  throw new Error("INDEX_VALUE_CHARS_MAX must not exceed INDEX_WRITE_VALUE_CHARS_MAX");
}
