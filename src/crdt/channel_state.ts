/**
 * A channel's replicated state: the grow-only set of its deltas, and the view folded from it.
 * Two states holding the same delta set render byte-identical views whatever the order,
 * duplication or batching of arrival. `apply` is incremental; `merge` is set union.
 */
import { decodeBase64Url } from "../protocol/base64url.ts";
import { canonicalJson, type JsonValue } from "../protocol/canonical_json.ts";
import type { Delta, OpValue } from "../protocol/delta.ts";
import { IdAccumulator } from "../protocol/fingerprint.ts";
import { AuthorHeads } from "./author_heads.ts";
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

export class ChannelState {
  readonly channel: string;
  readonly #deltas = new Map<string, FoldedDelta>();
  readonly #map = new LwwMap();
  readonly #sets = new Map<string, OrSet>();
  readonly #counters = new Map<string, PnCounter>();
  readonly #heads = new AuthorHeads();
  readonly #ids = new IdAccumulator();
  readonly #authors = new Set<string>();

  constructor(channel: string) {
    this.channel = channel;
  }

  /** How many distinct deltas the state holds. */
  get size(): number {
    return this.#deltas.size;
  }

  has(id: string): boolean {
    return this.#deltas.has(id);
  }

  /** The deltas held, in the order they were first applied. */
  deltas(): IterableIterator<FoldedDelta> {
    return this.#deltas.values();
  }

  /** Folds one delta in. Returns false (and changes nothing) when it is already held. */
  apply(delta: FoldedDelta): boolean {
    if (delta.channel !== this.channel) {
      throw new Error(
        `Cannot apply a delta of channel "${delta.channel}" to "${this.channel}"`,
      );
    }
    if (this.#deltas.has(delta.id)) return false;
    const idBytes = decodeBase64Url(delta.id);
    if (idBytes === null || idBytes.length !== 32) {
      throw new Error(`Cannot apply a delta whose id is not 32 bytes of base64url: "${delta.id}"`);
    }
    this.#deltas.set(delta.id, delta);
    this.#ids.add(idBytes);
    this.#heads.add(delta.author, delta.seq);
    this.#authors.add(delta.author);
    delta.ops.forEach((op, index) => {
      const stamp = {
        ts: delta.ts,
        lc: delta.lc,
        author: delta.author,
        seq: delta.seq,
        op: index,
        id: delta.id,
      };
      switch (op.op) {
        case "set":
          return this.#map.apply(op.key, stamp, op.value);
        case "del":
          return this.#map.apply(op.key, stamp, undefined);
        case "add":
          return named(this.#sets, op.set, OrSet).add(
            op.elem,
            `${delta.id}:${index}`,
          );
        case "rmv":
          return named(this.#sets, op.set, OrSet).remove(op.elem, op.tags);
        case "inc":
          return named(this.#counters, op.counter, PnCounter).add(op.by);
      }
    });
    return true;
  }

  /** Whether any delta held is by `author`. */
  hasAuthor(author: string): boolean {
    return this.#authors.has(author);
  }

  /**
   * The state without the deltas of `excluded` authors (quarantined ones): this state itself when
   * it holds none of theirs, else a new fold of the rest. Deterministic in the delta set.
   */
  without(excluded: ReadonlySet<string>): ChannelState {
    let hit = false;
    for (const author of excluded) if (this.#authors.has(author)) hit = true;
    if (!hit) return this;
    const kept = new ChannelState(this.channel);
    for (const delta of this.#deltas.values()) {
      if (!excluded.has(delta.author)) kept.apply(delta);
    }
    return kept;
  }

  /** The live value of map key `key`, or undefined when absent or deleted (no view rendered). */
  mapValue(key: string): OpValue | undefined {
    return this.#map.get(key);
  }

  /** Live add tags of `elem` in set `name` (what an `rmv` must name to remove it now). */
  liveTags(name: string, elem: string): string[] {
    return this.#sets.get(name)?.liveTags(elem) ?? [];
  }

  /** Set union: a new state holding the deltas of both. */
  static merge(a: ChannelState, b: ChannelState): ChannelState {
    const merged = new ChannelState(a.channel);
    for (const delta of a.deltas()) merged.apply(delta);
    for (const delta of b.deltas()) merged.apply(delta);
    return merged;
  }

  /** The set fingerprint of the held delta ids. */
  fingerprint(): string {
    return this.#ids.fingerprint();
  }

  view(): ChannelView {
    const sets = record<string[]>();
    for (const [name, set] of this.#sets) {
      const elements = set.elements();
      if (elements.length > 0) sets[name] = elements;
    }
    const counters = record<bigint>();
    for (const [name, counter] of this.#counters) {
      counters[name] = counter.value;
    }
    return {
      channel: this.channel,
      map: Object.assign(
        record<OpValue>(),
        Object.fromEntries(this.#map.entries()),
      ),
      sets,
      counters,
      heads: Object.assign(
        record<number>(),
        Object.fromEntries(this.#heads.heads()),
      ),
      gaps: Object.assign(
        record<[number, number][]>(),
        Object.fromEntries(this.#heads.gaps()),
      ),
      fingerprint: this.fingerprint(),
      deltas: this.#deltas.size,
    };
  }

  /** The view as canonical JSON text: equal delta sets give byte-identical text. */
  viewText(): string {
    return canonicalJson(this.view() as unknown as JsonValue);
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
