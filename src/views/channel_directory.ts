/**
 * The channels a region stores deltas of, kept in the store index (`RegionStore.writeIndex`) as
 * one entry `["channels", name]` → `""` per channel, so that `GET /v1/channels` can list them in
 * name order without a store method of its own (docs/protocol.md §12.9).
 *
 * Ingest records a channel **before** it writes the channel's deltas (write-ahead), for every
 * path that stores deltas — agents' pushes, relayed and repaired deltas alike — so no crash can
 * leave a stored delta whose channel is unlisted: at worst an entry whose deltas were never
 * written, which the listing leaves out (it reads each channel's count). Each instance skips the
 * write for channels it recorded lately (a bounded set), so the store sees one idempotent write
 * per channel per instance, not one per push.
 */
import { INBOX_CHANNEL_PREFIX } from "../protocol/message_kinds.ts";
import { decodeBase64Url, encodeBase64Url } from "../protocol/base64url.ts";
import { CHANNEL_CHARS_MAX, CHANNEL_PATTERN } from "../protocol/limits.ts";
import { utf8Encode } from "../protocol/utf8.ts";
import type { IndexKey, RegionStore } from "../store/region_store.ts";

/** The directory's part of the store index. */
export const CHANNELS_INDEX_ROOT = "channels";
/**
 * Channels one instance remembers having recorded (least recently stored to forgotten first);
 * a push to a channel outside it costs one more idempotent index write.
 */
export const CHANNELS_KNOWN_MAX = 10_000;
/** Most channels recorded in one index write (the store allows 128 keys a write). */
export const CHANNELS_RECORD_WRITE_KEYS_MAX = 64;
/** Most channels looked up in one index read (the store allows 256 keys a read). */
export const CHANNELS_RECORD_READ_KEYS_MAX = 256;
/** Page size of `GET /v1/channels` when `limit` is not given. */
export const CHANNELS_LIMIT_DEFAULT = 100;
/** Largest page `GET /v1/channels` answers (its `limit`). */
export const CHANNELS_LIMIT_MAX = 500;
/** Longest cursor: base64url of the longest channel name. */
export const CHANNELS_CURSOR_CHARS_MAX = Math.ceil(CHANNEL_CHARS_MAX * 4 / 3);
/** A listing prefix: the start of a channel name, possibly empty. */
export const CHANNEL_PREFIX_PATTERN = /^[A-Za-z0-9._:-]{0,64}$/;

if (CHANNELS_LIMIT_DEFAULT > CHANNELS_LIMIT_MAX) {
  throw new Error("CHANNELS_LIMIT_DEFAULT must not exceed CHANNELS_LIMIT_MAX");
}
// A page's counts are read in one `arrivalCounts` call (at most 1,000 channels) and its entries
// in one `listIndex` page (at most 1,000 entries).
if (CHANNELS_LIMIT_MAX > 1_000) throw new Error("CHANNELS_LIMIT_MAX must not exceed 1,000");
if (CHANNELS_RECORD_WRITE_KEYS_MAX > 128) {
  throw new Error("CHANNELS_RECORD_WRITE_KEYS_MAX must fit one store index write (128 keys)");
}

/** A channel as `GET /v1/channels` lists it. */
export interface ChannelEntry {
  readonly channel: string;
  /** Deltas this region stores in the channel (its last arrival number), quarantine unfiltered. */
  readonly deltas: number;
}

export interface ChannelPage {
  readonly channels: ChannelEntry[];
  /** The last channel this page examined, to list after; null when the listing is done. */
  readonly after: string | null;
}

export function channelIndexKey(channel: string): IndexKey {
  return [CHANNELS_INDEX_ROOT, channel];
}

/** One instance's directory over one store: records channels before their deltas are written. */
export class ChannelDirectory {
  readonly #store: RegionStore;
  /** Channels recorded by this instance, least recently stored first. */
  readonly #known = new Set<string>();

  constructor(store: RegionStore) {
    this.#store = store;
  }

  /**
   * Records every channel of `channels` (mailboxes aside) this instance has not recorded lately:
   * those it has not seen are looked up first (one index read, far cheaper than a commit: a
   * restarted or cold instance, or one past `CHANNELS_KNOWN_MAX`, meets mostly channels already
   * recorded), and only the missing ones are written, in index writes of at most
   * `CHANNELS_RECORD_WRITE_KEYS_MAX` keys; resolves once they are written. Throws what the store
   * throws (`StoreUnavailableError`): the caller must then not write the deltas.
   */
  async record(channels: Iterable<string>): Promise<void> {
    const unseen: string[] = [];
    for (const channel of new Set(channels)) {
      // Mailboxes are private: listing them would tell who receives messages.
      if (channel.startsWith(INBOX_CHANNEL_PREFIX)) continue;
      if (this.#known.delete(channel)) this.#known.add(channel); // most recent last
      else unseen.push(channel);
    }
    const fresh: string[] = [];
    for (let i = 0; i < unseen.length; i += CHANNELS_RECORD_READ_KEYS_MAX) {
      const chunk = unseen.slice(i, i + CHANNELS_RECORD_READ_KEYS_MAX);
      const values = await this.#store.readIndex(chunk.map(channelIndexKey));
      chunk.forEach((channel, k) => {
        if (values[k] === null) fresh.push(channel);
        else this.#remember(channel);
      });
    }
    for (let i = 0; i < fresh.length; i += CHANNELS_RECORD_WRITE_KEYS_MAX) {
      const chunk = fresh.slice(i, i + CHANNELS_RECORD_WRITE_KEYS_MAX);
      await this.#store.writeIndex({
        set: chunk.map((c) => ({ key: channelIndexKey(c), value: "" })),
      });
      for (const channel of chunk) this.#remember(channel);
    }
  }

  #remember(channel: string): void {
    this.#known.add(channel);
    if (this.#known.size <= CHANNELS_KNOWN_MAX) return;
    this.#known.delete(this.#known.values().next().value!);
  }
}

const byStore = new WeakMap<RegionStore, ChannelDirectory>();

/** The channel directory of `store` in this instance (one per store, shared by every ingest). */
export function channelDirectoryOf(store: RegionStore): ChannelDirectory {
  let directory = byStore.get(store);
  if (directory === undefined) byStore.set(store, directory = new ChannelDirectory(store));
  return directory;
}

/**
 * Up to `limit` channels whose names start with `prefix`, in byte order, strictly after `after`
 * (a name that starts with `prefix`) when given. Channels with no stored delta (a record whose
 * deltas were never written) are left out, so a page may hold fewer than `limit` and still have
 * an `after` to go on from.
 */
export async function listChannels(
  store: RegionStore,
  prefix: string,
  after: string | undefined,
  limit: number,
): Promise<ChannelPage> {
  // Index prefixes match whole key elements, so a name prefix is a range: from the prefix
  // itself (read apart, as `after` is exclusive) to the first name that does not start with it.
  const seek = after ?? (prefix === "" ? undefined : prefix);
  const exact = after === undefined && CHANNEL_PATTERN.test(prefix);
  const [listed, [own]] = await Promise.all([
    store.listIndex([CHANNELS_INDEX_ROOT], {
      after: seek === undefined ? undefined : channelIndexKey(seek),
      limit,
    }),
    exact ? store.readIndex([channelIndexKey(prefix)]) : Promise.resolve([null]),
  ]);
  const names = own === null ? [] : [prefix];
  let more = listed.more;
  for (const { key } of listed.entries) {
    const name = key[1];
    if (!name.startsWith(prefix)) {
      more = false;
      break;
    }
    names.push(name);
  }
  if (names.length > limit) {
    names.length = limit;
    more = true;
  }
  const counts = names.length === 0 ? [] : await store.arrivalCounts(names);
  const channels = names.flatMap((channel, i) =>
    counts[i] > 0 ? [{ channel, deltas: counts[i] }] : []
  );
  return { channels, after: more ? names.at(-1) ?? null : null };
}

/** The opaque cursor naming the channel a page ended on. */
export function encodeChannelCursor(channel: string): string {
  return encodeBase64Url(utf8Encode(channel));
}

/**
 * The channel a cursor names, or null when it is not a cursor a listing with `prefix` returned
 * (not base64url, not a channel name, or a name outside the prefix).
 */
export function decodeChannelCursor(cursor: string, prefix: string): string | null {
  if (cursor.length > CHANNELS_CURSOR_CHARS_MAX) return null;
  const bytes = decodeBase64Url(cursor);
  if (bytes === null) return null;
  // Channel names are ASCII: anything else is not one.
  if (bytes.some((b) => b > 0x7f)) return null;
  const name = String.fromCharCode(...bytes);
  return CHANNEL_PATTERN.test(name) && name.startsWith(prefix) ? name : null;
}
