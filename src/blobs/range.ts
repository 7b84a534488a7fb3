/**
 * The conditional and partial parts of a blob read (RFC 9110 §13, §14), pure: the strong ETag
 * (the hash itself, since the bytes can never change), `If-None-Match`, `If-Range` and a single
 * byte `Range`. Values in, values out.
 */

/** What a `Range` asks of a blob of known size. */
export type RangeAsk =
  /** No range (or one the server ignores: another unit, several ranges, a stale If-Range). */
  | { readonly kind: "whole" }
  /** Bytes `start` … `end`, both inclusive, within the blob. */
  | { readonly kind: "part"; readonly start: number; readonly end: number }
  /** A bytes range that does not parse or lies wholly beyond the blob: 416. */
  | { readonly kind: "unsatisfiable"; readonly detail: string };

/** Longest `Range` value read, in characters; a longer one is ignored like any multi-range. */
export const RANGE_HEADER_CHARS_MAX = 256;

/** The blob's entity tag: its hash, quoted (strong). */
export function blobEtag(sha256: string): string {
  return `"${sha256}"`;
}

/**
 * Whether `If-None-Match` matches the blob (weak comparison, RFC 9110 §13.1.2): `*`, or any
 * listed tag equal to `"<sha256>"` with or without `W/`.
 */
export function noneMatch(header: string | null, sha256: string): boolean {
  if (header === null) return false;
  if (header.trim() === "*") return true;
  const tag = blobEtag(sha256);
  return header.split(",").some((item) => item.trim().replace(/^W\//, "") === tag);
}

/**
 * What `range` (the `Range` field) asks of a blob of `size` bytes, given `ifRange` (the
 * `If-Range` field): only the `bytes` unit and a single range are served; `a-b`, `a-` and `-n`.
 */
export function parseRange(
  range: string | null,
  size: number,
  sha256: string,
  ifRange: string | null = null,
): RangeAsk {
  if (range === null) return { kind: "whole" };
  // If-Range with anything but our (strong) tag means "send it all" (RFC 9110 §13.1.5).
  if (ifRange !== null && ifRange.trim() !== blobEtag(sha256)) return { kind: "whole" };
  const match = /^\s*([A-Za-z]+)\s*=(.*)$/.exec(range);
  if (match === null) return unsatisfiable(`Range ${JSON.stringify(range)} is not unit=ranges`);
  if (match[1].toLowerCase() !== "bytes") return { kind: "whole" };
  const spec = match[2].trim();
  if (spec.includes(",") || range.length > RANGE_HEADER_CHARS_MAX) return { kind: "whole" };
  const parts = /^(\d{0,16})-(\d{0,16})$/.exec(spec);
  if (parts === null || (parts[1] === "" && parts[2] === "")) {
    return unsatisfiable(`Range bytes=${spec} is not first-last, first- or -suffix`);
  }
  if (parts[1] === "") {
    const suffix = Number(parts[2]);
    if (suffix === 0) return unsatisfiable("A suffix range of 0 bytes selects nothing");
    return { kind: "part", start: Math.max(0, size - suffix), end: size - 1 };
  }
  const start = Number(parts[1]);
  const last = parts[2] === "" ? size - 1 : Number(parts[2]);
  if (last < start) return unsatisfiable(`Range bytes=${spec} ends before it starts`);
  if (start >= size) {
    return unsatisfiable(`Range bytes=${spec} starts at or after the end (${size} bytes)`);
  }
  return { kind: "part", start, end: Math.min(last, size - 1) };
}

function unsatisfiable(detail: string): RangeAsk {
  return { kind: "unsatisfiable", detail };
}
