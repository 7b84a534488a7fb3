/**
 * A channel's view folded from its deltas, holding only what the view is made of — the map with
 * its winning stamps, the sets' tags, counters, heads and the running id sum — and not the
 * deltas: its memory is the state's, not the history's, and it can be written to a checkpoint
 * (`snapshot`) and read back (`restore`).
 *
 * The caller applies each delta at most once: it folds a set (a store's arrivals, where each id
 * arrives once; `ChannelState` dedupes by id before it folds). Two folds of the same delta set
 * render byte-identical views whatever the order of application.
 */
import { decodeBase64Url } from "../protocol/base64url.ts";
import { canonicalJson, type JsonValue } from "../protocol/canonical_json.ts";
import type { Delta, OpValue } from "../protocol/delta.ts";
import { IdAccumulator } from "../protocol/fingerprint.ts";
import { AuthorHeads } from "./author_heads.ts";
import { decodeFold, encodeFold, type FoldParts, type FoldSnapshot } from "./fold_snapshot.ts";
import { LwwMap } from "./lww_map.ts";
import { OrSet } from "./or_set.ts";
import { PnCounter } from "./pn_counter.ts";

/** The fields of a delta that the fold reads. */
export type FoldedDelta = Pick<
  Delta,
  "id" | "channel" | "author" | "seq" | "ts" | "lc" | "ops"
>;

/** A channel's view as data. Objects have no prototype, so any key (even `__proto__`) is data. */
export interface ChannelView {
  readonly channel: string;
  readonly map: Record<string, OpValue>;
  readonly sets: Record<string, string[]>;
  readonly counters: Record<string, bigint>;
  readonly heads: Record<string, number>;
  readonly gaps: Record<string, [number, number][]>;
  readonly fingerprint: string;
  readonly deltas: number;
}

export class ChannelFold {
  readonly channel: string;
  readonly #p: FoldParts;

  constructor(channel: string, parts?: FoldParts) {
    this.channel = channel;
    this.#p = parts ?? {
      map: new LwwMap(),
      sets: new Map(),
      counters: new Map(),
      heads: new AuthorHeads(),
      ids: new IdAccumulator(),
    };
  }

  /** The fold `snapshot` describes (as `snapshot()` wrote it). Throws a `TypeError` if malformed. */
  static restore(channel: string, snapshot: unknown): ChannelFold {
    return new ChannelFold(channel, decodeFold(snapshot));
  }

  /** How many deltas are folded. */
  get size(): number {
    return this.#p.ids.count;
  }

  /**
   * What the fold holds, in entries: map keys (deletions included), set tags, counters, authors
   * and seqs held above their heads. Memory is roughly proportional to it.
   */
  get entries(): number {
    let tags = 0;
    for (const set of this.#p.sets.values()) tags += set.tags;
    return this.#p.map.size + tags + this.#p.counters.size + this.#p.heads.entries;
  }

  /** Whether any delta folded is by `author`. */
  hasAuthor(author: string): boolean {
    return this.#p.heads.has(author);
  }

  /** Folds one delta in; the caller applies each delta at most once (see the class comment). */
  apply(delta: FoldedDelta): void {
    if (delta.channel !== this.channel) {
      throw new Error(
        `Cannot apply a delta of channel "${delta.channel}" to "${this.channel}"`,
      );
    }
    const idBytes = decodeBase64Url(delta.id);
    if (idBytes === null || idBytes.length !== 32) {
      throw new Error(`Cannot apply a delta whose id is not 32 bytes of base64url: "${delta.id}"`);
    }
    const { map, sets, counters, heads, ids } = this.#p;
    ids.add(idBytes);
    heads.add(delta.author, delta.seq);
    delta.ops.forEach((op, index) => {
      const { ts, lc, author, seq, id } = delta;
      switch (op.op) {
        case "set":
          return map.apply(op.key, { ts, lc, author, seq, op: index, id }, op.value);
        case "del":
          return map.apply(op.key, { ts, lc, author, seq, op: index, id }, undefined);
        case "add":
          return named(sets, op.set, OrSet).add(op.elem, `${id}:${index}`);
        case "rmv":
          return named(sets, op.set, OrSet).remove(op.elem, op.tags);
        case "inc":
          return named(counters, op.counter, PnCounter).add(op.by);
      }
    });
  }

  /** The live value of map key `key`, or undefined when absent or deleted (no view rendered). */
  mapValue(key: string): OpValue | undefined {
    return this.#p.map.get(key);
  }

  /** Live add tags of `elem` in set `name` (what an `rmv` must name to remove it now). */
  liveTags(name: string, elem: string): string[] {
    return this.#p.sets.get(name)?.liveTags(elem) ?? [];
  }

  /** The set fingerprint of the folded delta ids. */
  fingerprint(): string {
    return this.#p.ids.fingerprint();
  }

  view(): ChannelView {
    const sets = record<string[]>();
    for (const [name, set] of this.#p.sets) {
      const elements = set.elements();
      if (elements.length > 0) sets[name] = elements;
    }
    const counters = record<bigint>();
    for (const [name, counter] of this.#p.counters) counters[name] = counter.value;
    return {
      channel: this.channel,
      map: Object.assign(record<OpValue>(), Object.fromEntries(this.#p.map.entries())),
      sets,
      counters,
      heads: Object.assign(record<number>(), Object.fromEntries(this.#p.heads.heads())),
      gaps: Object.assign(
        record<[number, number][]>(),
        Object.fromEntries(this.#p.heads.gaps()),
      ),
      fingerprint: this.fingerprint(),
      deltas: this.size,
    };
  }

  /** The view as canonical JSON text: equal delta sets give byte-identical text. */
  viewText(): string {
    return canonicalJson(this.view() as unknown as JsonValue);
  }

  /** The fold as plain JSON data (`fold_snapshot.ts`), for `ChannelFold.restore`. */
  snapshot(): FoldSnapshot {
    return encodeFold(this.#p);
  }
}

function record<T>(): Record<string, T> {
  return Object.create(null);
}

function named<T>(map: Map<string, T>, key: string, make: new () => T): T {
  let value = map.get(key);
  if (value === undefined) map.set(key, value = new make());
  return value;
}
