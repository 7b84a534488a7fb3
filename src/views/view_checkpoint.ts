/**
 * View checkpoints in the store index: a channel's filtered fold (`FilteredChannelState`, without
 * the deltas) with the arrival cursor it reflects, so that a cold instance reads the checkpoint
 * and the arrivals after it instead of the whole channel (docs/architecture.md, "Views and
 * quarantine"). A checkpoint is derived data: losing or corrupting one never changes a view, it
 * only costs a longer fold.
 *
 * Layout (`RegionStore.writeIndex`; a value holds at most 16,384 characters, a write 131,072):
 * - `["checkpoint","at",channel]` → the pointer ({@linkcode CheckpointPointer}): generation,
 *   chunk count, SHA-256 of the text, cursor, deltas, fingerprint;
 * - `["checkpoint","chunk",channel,gen,i]` → the i-th piece of the checkpoint's JSON text;
 * - `["checkpoint","pending",channel]` → the generation being written, so the next writer can
 *   delete what a crash left behind.
 *
 * A write puts the chunks of a new generation first and then swaps the pointer in one
 * conditional write that expects the pointer it read: a crash or a rival writer leaves the old
 * checkpoint whole. A read trusts a checkpoint only when every chunk is there, the text hashes to
 * the pointer's SHA-256, it decodes, its fold's fingerprint and count are the pointer's, the
 * deltas it folded and left out add up to its cursor, and the cursor is not past the channel's
 * arrivals; otherwise it is `rejected` and the view is folded from the deltas.
 */
import { FilteredChannelState, type FilteredSnapshot } from "../crdt/filtered_channel_state.ts";
import { createSha256 } from "../crypto/sha256.ts";
import { encodeBase64Url } from "../protocol/base64url.ts";
import { utf8Encode } from "../protocol/utf8.ts";
import type { IndexKey, RegionStore } from "../store/region_store.ts";

/** The checkpoints' part of the store index. */
export const CHECKPOINT_INDEX_ROOT = "checkpoint";
/** Characters of checkpoint text per chunk: under the store's 16,384 a value. */
export const CHECKPOINT_CHUNK_CHARS = 16_000;
/** Chunks set per index write: 8 × 16,000 characters, under the store's 131,072 a write. */
export const CHECKPOINT_WRITE_CHUNKS = 8;
/** Keys deleted per index write (the store allows 128 keys a write). */
export const CHECKPOINT_DELETE_KEYS = 128;
/** Chunks read per `readIndex` call (the store allows 256 keys; this bounds a reply's bytes). */
export const CHECKPOINT_READ_CHUNKS = 32;
/** `readIndex` calls of one checkpoint read in flight at once. */
export const CHECKPOINT_READS_IN_FLIGHT = 4;
/** Largest checkpoint, in chunks (64 million characters); a larger state is not checkpointed. */
export const CHECKPOINT_CHUNKS_MAX = 4_000;

if (CHECKPOINT_WRITE_CHUNKS * CHECKPOINT_CHUNK_CHARS > 131_072) {
  throw new Error("CHECKPOINT_WRITE_CHUNKS chunks must fit one store index write");
}

/** What the pointer says about the checkpoint it points to. */
export interface CheckpointPointer {
  readonly v: 1;
  /** Names this checkpoint's chunks; new for every write. */
  readonly gen: string;
  readonly chunks: number;
  /** base64url SHA-256 of the checkpoint text's UTF-8 bytes. */
  readonly sha256: string;
  /** The channel's arrivals 1..cursor are folded (or left out as quarantined authors'). */
  readonly cursor: number;
  /** Deltas in the fold, and its fingerprint (docs/protocol.md §11). */
  readonly deltas: number;
  readonly fingerprint: string;
  /** Wall-clock ms of the write. */
  readonly writtenAtMs: number;
}

/** A checkpoint as it is read: the pointer's raw text (for a conditional write) and its fields. */
export interface StoredPointer {
  readonly raw: string | null;
  readonly pointer: CheckpointPointer | null;
}

export type CheckpointRead =
  | { readonly outcome: "absent" }
  | { readonly outcome: "rejected"; readonly reason: string }
  | {
    readonly outcome: "loaded";
    readonly view: FilteredChannelState;
    readonly cursor: number;
    readonly chars: number;
  };

export function pointerKey(channel: string): IndexKey {
  return [CHECKPOINT_INDEX_ROOT, "at", channel];
}

function pendingKey(channel: string): IndexKey {
  return [CHECKPOINT_INDEX_ROOT, "pending", channel];
}

function chunkKeys(channel: string, gen: string, chunks: number): IndexKey[] {
  return Array.from(
    { length: chunks },
    (_, i) => [CHECKPOINT_INDEX_ROOT, "chunk", channel, gen, String(i).padStart(5, "0")],
  );
}

/** The pointer text `raw` as a pointer, or null when it is not one. */
export function parsePointer(raw: string | null): CheckpointPointer | null {
  if (raw === null) return null;
  try {
    const p = JSON.parse(raw) as CheckpointPointer;
    const counts = [p.chunks, p.cursor, p.deltas, p.writtenAtMs];
    const ok = p.v === 1 && typeof p.gen === "string" && /^[0-9a-f]{1,32}$/.test(p.gen) &&
      typeof p.sha256 === "string" && typeof p.fingerprint === "string" &&
      counts.every((n) => Number.isSafeInteger(n) && n >= 0) &&
      p.chunks >= 1 && p.chunks <= CHECKPOINT_CHUNKS_MAX;
    return ok ? p : null;
  } catch {
    return null;
  }
}

/** The pointers of `channels`, in order (at most 256 a call, the store's read limit). */
export async function readPointers(
  store: RegionStore,
  channels: readonly string[],
): Promise<StoredPointer[]> {
  const raws = await store.readIndex(channels.map(pointerKey));
  return raws.map((raw) => ({ raw, pointer: parsePointer(raw) }));
}

/** The checkpoint text of `view` at `cursor`, as `readCheckpoint` expects it. */
export function checkpointText(
  channel: string,
  view: FilteredChannelState,
  cursor: number,
): string {
  return JSON.stringify({ v: 1, channel, cursor, filtered: view.snapshot() });
}

/** The text cut into chunks of at most `CHECKPOINT_CHUNK_CHARS`, never inside a surrogate pair. */
export function chunkText(text: string): string[] {
  const chunks: string[] = [];
  for (let at = 0; at < text.length;) {
    let end = Math.min(text.length, at + CHECKPOINT_CHUNK_CHARS);
    const last = text.charCodeAt(end - 1);
    if (end < text.length && last >= 0xd800 && last <= 0xdbff) end--;
    chunks.push(text.slice(at, end));
    at = end;
  }
  return chunks.length === 0 ? [""] : chunks;
}

function hashChunks(chunks: readonly string[]): string {
  const hash = createSha256();
  for (const chunk of chunks) hash.update(utf8Encode(chunk));
  return encodeBase64Url(hash.digest());
}

/** What one `writeCheckpoint` did. */
export type CheckpointWrite =
  | { readonly outcome: "written"; readonly chars: number; readonly chunks: number }
  /** Another writer swapped the pointer first; this write's chunks were deleted again. */
  | { readonly outcome: "lost" }
  /** The text needs more than `CHECKPOINT_CHUNKS_MAX` chunks: nothing was written. */
  | { readonly outcome: "too_large"; readonly chars: number };

/**
 * Writes the checkpoint `text` of `channel` (from `checkpointText`) with its pointer fields,
 * replacing the checkpoint `previous` (as read) only if it is still the one stored.
 */
export async function writeCheckpoint(
  store: RegionStore,
  channel: string,
  text: string,
  fields: Pick<CheckpointPointer, "cursor" | "deltas" | "fingerprint" | "writtenAtMs">,
  previous: StoredPointer,
): Promise<CheckpointWrite> {
  const chunks = chunkText(text);
  if (chunks.length > CHECKPOINT_CHUNKS_MAX) return { outcome: "too_large", chars: text.length };
  await dropLeftovers(store, channel, previous.pointer);
  const gen = crypto.randomUUID().replaceAll("-", "").slice(0, 16);
  const old = previous.pointer;
  const pending: Pending = {
    gen,
    chunks: chunks.length,
    replaces: old === null ? null : { gen: old.gen, chunks: old.chunks },
  };
  const marker = { key: pendingKey(channel), value: JSON.stringify(pending) };
  await store.writeIndex({ set: [marker] });
  const keys = chunkKeys(channel, gen, chunks.length);
  for (let i = 0; i < chunks.length; i += CHECKPOINT_WRITE_CHUNKS) {
    const set = chunks.slice(i, i + CHECKPOINT_WRITE_CHUNKS)
      .map((value, j) => ({ key: keys[i + j], value }));
    await store.writeIndex({ set });
  }
  const pointer: CheckpointPointer = {
    v: 1,
    gen,
    chunks: chunks.length,
    sha256: hashChunks(chunks),
    ...fields,
  };
  const key = pointerKey(channel);
  const swapped = await store.writeIndex({
    expect: [{ key, value: previous.raw }],
    set: [{ key, value: JSON.stringify(pointer) }],
  });
  // The replaced checkpoint's chunks, or the loser's own: nobody reads them any more.
  const unused = swapped ? pending.replaces : pending;
  if (unused !== null) await deleteKeys(store, chunkKeys(channel, unused.gen, unused.chunks));
  await store.writeIndex({ expect: [marker], delete: [marker.key] });
  return swapped
    ? { outcome: "written", chars: text.length, chunks: chunks.length }
    : { outcome: "lost" };
}

/** The marker of a write in progress: its generation, and the one it replaces. */
interface Pending {
  readonly gen: string;
  readonly chunks: number;
  readonly replaces: { readonly gen: string; readonly chunks: number } | null;
}

/**
 * Cleans up after a write that crashed: deletes its chunks when its pointer swap never happened,
 * or the chunks of the checkpoint it replaced when it did.
 */
async function dropLeftovers(
  store: RegionStore,
  channel: string,
  current: CheckpointPointer | null,
): Promise<void> {
  const key = pendingKey(channel);
  const [raw] = await store.readIndex([key]);
  if (raw === null) return;
  const left = parsePending(raw);
  const unused = left === null ? null : left.gen === current?.gen ? left.replaces : left;
  if (unused !== null && unused.gen !== current?.gen) {
    await deleteKeys(store, chunkKeys(channel, unused.gen, unused.chunks));
  }
  await store.writeIndex({ expect: [{ key, value: raw }], delete: [key] });
}

function parsePending(raw: string): Pending | null {
  const named = (g: { gen?: unknown; chunks?: unknown } | null) =>
    g !== null && typeof g === "object" && typeof g.gen === "string" &&
    /^[0-9a-f]{1,32}$/.test(g.gen) && Number.isSafeInteger(g.chunks) &&
    (g.chunks as number) >= 1 && (g.chunks as number) <= CHECKPOINT_CHUNKS_MAX;
  try {
    const p = JSON.parse(raw) as Pending;
    return named(p) && (p.replaces === null || named(p.replaces)) ? p : null;
  } catch {
    return null;
  }
}

async function deleteKeys(store: RegionStore, keys: readonly IndexKey[]): Promise<void> {
  for (let i = 0; i < keys.length; i += CHECKPOINT_DELETE_KEYS) {
    await store.writeIndex({ delete: keys.slice(i, i + CHECKPOINT_DELETE_KEYS) });
  }
}

/**
 * The checkpoint of `channel`, verified (see the module comment), with the authors it left out
 * excluded; `absent` when there is none, `rejected` (with the reason) when it cannot be trusted.
 */
export async function readCheckpoint(store: RegionStore, channel: string): Promise<CheckpointRead> {
  const [[raw], [arrivals]] = await Promise.all([
    store.readIndex([pointerKey(channel)]),
    store.arrivalCounts([channel]),
  ]);
  if (raw === null) return { outcome: "absent" };
  const pointer = parsePointer(raw);
  if (pointer === null) return rejected("pointer");
  if (pointer.cursor > arrivals) return rejected("ahead_of_store");
  const chunks = await readChunks(store, chunkKeys(channel, pointer.gen, pointer.chunks));
  if (chunks === null) return rejected("missing_chunk");
  if (hashChunks(chunks) !== pointer.sha256) return rejected("hash");
  const text = chunks.join("");
  let view: FilteredChannelState;
  try {
    const body = JSON.parse(text) as {
      v: 1;
      channel: string;
      cursor: number;
      filtered: FilteredSnapshot;
    };
    if (body.v !== 1 || body.channel !== channel || body.cursor !== pointer.cursor) {
      return rejected("body");
    }
    view = FilteredChannelState.restore(channel, body.filtered);
  } catch {
    return rejected("malformed");
  }
  if (
    view.state.fingerprint() !== pointer.fingerprint || view.size !== pointer.deltas ||
    view.applied !== pointer.cursor
  ) return rejected("fingerprint");
  return { outcome: "loaded", view, cursor: pointer.cursor, chars: text.length };
}

function rejected(reason: string): CheckpointRead {
  return { outcome: "rejected", reason };
}

/** The values at `keys`, in order; null when any is missing. */
async function readChunks(store: RegionStore, keys: readonly IndexKey[]): Promise<string[] | null> {
  const batches: IndexKey[][] = [];
  for (let i = 0; i < keys.length; i += CHECKPOINT_READ_CHUNKS) {
    batches.push(keys.slice(i, i + CHECKPOINT_READ_CHUNKS));
  }
  const values: (string | null)[][] = new Array(batches.length);
  let next = 0;
  const worker = async () => {
    while (next < batches.length) {
      const i = next++;
      values[i] = await store.readIndex(batches[i]);
    }
  };
  await Promise.all(Array.from({ length: CHECKPOINT_READS_IN_FLIGHT }, worker));
  const flat = values.flat();
  return flat.every((v) => v !== null) ? flat as string[] : null;
}
