/**
 * Reading and writing a channel view with exact counters. A view's counters are decimal integers
 * of any magnitude (docs/protocol.md §10), which plain `JSON.parse` rounds to binary64 beyond 2^53
 * (18014398509481981 reads as 18014398509481980). `parseView` reads them from the source text as
 * `bigint`; every other number (map values, heads, gaps, deltas) stays an ordinary number.
 */
import type { ChannelView } from "../crdt/channel_state.ts";

/** A channel view as the region renders it (§9.5), counters exact; map values as JSON gives them. */
export type ViewJson = Omit<ChannelView, "map"> & { readonly map: Record<string, unknown> };

/** `JSON.parse` with ES2025 source text access (V8 ≥ 11.4: Deno, Node ≥ 21, Chrome ≥ 114). */
type ParseWithSource = (
  text: string,
  reviver: (this: object, key: string, value: unknown, context?: { source?: string }) => unknown,
) => unknown;

/** Parses view JSON text, reading `counters` as exact `bigint`s. */
export function parseView(text: string): ViewJson {
  // The reviver sees each number with its source text; remember the sources per holder object,
  // then convert only the members of the top-level `counters` object.
  const sources = new WeakMap<object, Map<string, string>>();
  const view = (JSON.parse as ParseWithSource)(text, function (key, value, context) {
    if (typeof value === "number" && context?.source !== undefined) {
      let members = sources.get(this);
      if (members === undefined) sources.set(this, members = new Map());
      members.set(key, context.source);
    }
    return value;
  }) as { counters?: Record<string, unknown> };
  const counters = view?.counters;
  if (typeof counters !== "object" || counters === null) {
    throw new TypeError("Cannot read the view as it has no counters object");
  }
  const members = sources.get(counters);
  for (const [name, value] of Object.entries(counters)) {
    counters[name] = exactInteger(name, value, members?.get(name));
  }
  return view as unknown as ViewJson;
}

function exactInteger(name: string, value: unknown, source: string | undefined): bigint {
  if (source !== undefined && /^-?[0-9]+$/.test(source)) return BigInt(source);
  if (source === undefined && Number.isSafeInteger(value)) return BigInt(value as number);
  throw new TypeError(
    source === undefined
      ? `Cannot read counter ${JSON.stringify(name)} exactly: this runtime's JSON.parse gives ` +
        "no source text"
      : `Cannot read counter ${JSON.stringify(name)} as ${source} is not a decimal integer`,
  );
}

/** `JSON.rawJSON` (ES2025, same runtimes as source text access); not yet in TypeScript's lib. */
const { rawJSON } = JSON as unknown as { rawJSON: (text: string) => unknown };

/** JSON text of a value that may hold `bigint`s, written as exact decimal integers. */
export function exactJsonText(value: unknown, space?: number): string {
  return JSON.stringify(
    value,
    (_key, v) => typeof v === "bigint" ? rawJSON(v.toString()) : v,
    space,
  );
}
