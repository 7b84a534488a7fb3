/**
 * The position of a topic subscription, as the SSE `id:` of every event and the `cursor` of the
 * long-poll: region-independent, so a subscriber resumes on any region (docs/protocol.md §22.4).
 *
 * A cursor is the subscription's start time `T0` and, per publisher of each topic (`key`: the
 * first 8 bytes of sha256(topic, "\n", author)), the seqs already delivered, as ranges. A region
 * resuming from it delivers every unexpired message with `ts ≥ T0` whose seq is not in its
 * publisher's ranges: whatever order this region received them in, nothing is lost and nothing
 * repeats. Entries whose messages have all expired are left out (nothing of theirs could be
 * delivered again). Past the bounds below the cursor forgets the oldest ranges or entries: a
 * resume may then repeat messages, never skip one. Pure.
 */
import { decodeBase64Url, encodeBase64Url } from "../protocol/base64url.ts";
import { sha256 } from "../crypto/sha256.ts";
import { utf8Encode } from "../protocol/utf8.ts";

/** Most seq ranges kept per publisher (gaps come from out-of-order arrival). */
export const CURSOR_RANGES_PER_KEY_MAX = 8;
/** Most publishers a cursor remembers; past it, those whose messages expire first are dropped. */
export const CURSOR_ENTRIES_MAX = 512;
/** Most bytes a cursor encodes to (before base64url); past it, the oldest entries are left out. */
export const CURSOR_BYTES_MAX = 12_000;
/** Longest cursor accepted, in characters: the base64url of CURSOR_BYTES_MAX bytes. */
export const CURSOR_CHARS_MAX = Math.ceil(CURSOR_BYTES_MAX * 4 / 3);
const VERSION = 1;
const KEY_BYTES = 8;

interface Entry {
  /** Latest expiry of a delivered message, ms since the epoch. */
  exp: number;
  /** Disjoint inclusive ranges [start, end] of delivered seqs, ascending. */
  ranges: [number, number][];
}

/** The cursor key of a publisher in a topic (hex of 8 bytes). */
export function publisherKey(topic: string, author: string): string {
  const digest = sha256(utf8Encode(`${topic}\n${author}`));
  let hex = "";
  for (let i = 0; i < KEY_BYTES; i++) hex += digest[i].toString(16).padStart(2, "0");
  return hex;
}

export class TopicCursor {
  /** Messages with `ts` below this are before the subscription, ms since the epoch. */
  readonly startMs: number;
  readonly #entries: Map<string, Entry>;

  private constructor(startMs: number, entries: Map<string, Entry>) {
    this.startMs = startMs;
    this.#entries = entries;
  }

  /** A subscription starting at `startMs`, nothing delivered yet. */
  static fresh(startMs: number): TopicCursor {
    return new TopicCursor(Math.max(0, Math.floor(startMs)), new Map());
  }

  /** The cursor `text` encodes, or null when it is not one. */
  static decode(text: string): TopicCursor | null {
    if (text.length === 0 || text.length > CURSOR_CHARS_MAX) return null;
    const bytes = decodeBase64Url(text);
    if (bytes === null || bytes[0] !== VERSION) return null;
    const reader = new Reader(bytes, 1);
    const startMs = reader.varint();
    const count = reader.varint();
    if (startMs === null || count === null || count > CURSOR_ENTRIES_MAX) return null;
    const entries = new Map<string, Entry>();
    for (let i = 0; i < count; i++) {
      const entry = readEntry(reader, startMs);
      if (entry === null || entries.has(entry.key)) return null;
      entries.set(entry.key, entry.entry);
    }
    return reader.done() ? new TopicCursor(startMs, entries) : null;
  }

  /** How many publishers the cursor remembers. */
  get size(): number {
    return this.#entries.size;
  }

  /** Whether the message `seq` of publisher `key` was delivered. */
  has(key: string, seq: number): boolean {
    const entry = this.#entries.get(key);
    return entry !== undefined && entry.ranges.some(([a, b]) => a <= seq && seq <= b);
  }

  /** The highest seq of publisher `key` delivered, or null when none is remembered. */
  maxSeq(key: string): number | null {
    return this.#entries.get(key)?.ranges.at(-1)?.[1] ?? null;
  }

  /** Records the delivery of message `seq` of publisher `key`, which expires at `exp`. */
  add(key: string, seq: number, exp: number): void {
    let entry = this.#entries.get(key);
    if (entry === undefined) this.#entries.set(key, entry = { exp, ranges: [] });
    entry.exp = Math.max(entry.exp, exp);
    entry.ranges = insertSeq(entry.ranges, seq);
    if (entry.ranges.length > CURSOR_RANGES_PER_KEY_MAX) entry.ranges.shift();
  }

  /**
   * The cursor as text, leaving out what expired by `nowMs`, and past the bounds (entries, bytes)
   * the entries whose messages expire first (a resume may then repeat theirs, never skip one).
   */
  encode(nowMs: number): string {
    for (const [key, entry] of this.#entries) if (entry.exp <= nowMs) this.#entries.delete(key);
    const byLatest = [...this.#entries].sort((a, b) => b[1].exp - a[1].exp);
    const head: number[] = [VERSION];
    writeVarint(head, this.startMs);
    const kept: number[][] = [];
    let bytes = head.length + 3; // the entry count's varint
    for (const [key, entry] of byLatest) {
      const encoded = encodeEntry(key, entry, this.startMs);
      if (kept.length >= CURSOR_ENTRIES_MAX || bytes + encoded.length > CURSOR_BYTES_MAX) {
        this.#entries.delete(key);
        continue;
      }
      kept.push(encoded);
      bytes += encoded.length;
    }
    writeVarint(head, kept.length);
    return encodeBase64Url(new Uint8Array(head.concat(...kept)));
  }
}

function encodeEntry(key: string, entry: Entry, startMs: number): number[] {
  const out: number[] = [];
  for (let i = 0; i < KEY_BYTES; i++) out.push(parseInt(key.slice(2 * i, 2 * i + 2), 16));
  writeVarint(out, Math.max(0, Math.ceil((entry.exp - startMs) / 1000)));
  writeVarint(out, entry.ranges.length);
  let previous = 0;
  for (const [a, b] of entry.ranges) {
    writeVarint(out, a - previous);
    writeVarint(out, b - a);
    previous = b;
  }
  return out;
}

function insertSeq(ranges: [number, number][], seq: number): [number, number][] {
  const all = [...ranges, [seq, seq] as [number, number]].sort((x, y) => x[0] - y[0]);
  const merged: [number, number][] = [];
  for (const [a, b] of all) {
    const last = merged.at(-1);
    if (last !== undefined && a <= last[1] + 1) last[1] = Math.max(last[1], b);
    else merged.push([a, b]);
  }
  return merged;
}

function readEntry(reader: Reader, startMs: number): { key: string; entry: Entry } | null {
  const keyBytes = reader.bytes(KEY_BYTES);
  const expS = reader.varint();
  const count = reader.varint();
  if (keyBytes === null || expS === null || count === null) return null;
  if (count === 0 || count > CURSOR_RANGES_PER_KEY_MAX) return null;
  const ranges: [number, number][] = [];
  let previous = 0;
  for (let i = 0; i < count; i++) {
    const gap = reader.varint();
    const length = reader.varint();
    if (gap === null || length === null) return null;
    if (i > 0 && gap < 2) return null; // ranges are disjoint and not adjacent
    const a = previous + gap;
    const b = a + length;
    if (a < 1 || !Number.isSafeInteger(b)) return null;
    ranges.push([a, b]);
    previous = b;
  }
  const key = [...keyBytes].map((b) => b.toString(16).padStart(2, "0")).join("");
  return { key, entry: { exp: startMs + expS * 1000, ranges } };
}

function writeVarint(out: number[], value: number): void {
  let v = value;
  while (v >= 0x80) {
    out.push((v % 0x80) | 0x80);
    v = Math.floor(v / 0x80);
  }
  out.push(v);
}

class Reader {
  #at: number;
  constructor(readonly buffer: Uint8Array, at: number) {
    this.#at = at;
  }
  varint(): number | null {
    let value = 0, scale = 1;
    for (let i = 0; i < 8; i++) {
      if (this.#at >= this.buffer.length) return null;
      const byte = this.buffer[this.#at++];
      value += (byte & 0x7f) * scale;
      if (byte < 0x80) return Number.isSafeInteger(value) ? value : null;
      scale *= 0x80;
    }
    return null;
  }
  bytes(n: number): Uint8Array | null {
    if (this.#at + n > this.buffer.length) return null;
    const slice = this.buffer.subarray(this.#at, this.#at + n);
    this.#at += n;
    return slice;
  }
  done(): boolean {
    return this.#at === this.buffer.length;
  }
}
