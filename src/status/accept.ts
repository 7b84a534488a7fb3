/**
 * The small part of HTTP negotiation the status routes need: does an `Accept` header allow a
 * media type (RFC 9110 §12.5.1: media ranges, wildcards, `q=0` refusals), and does a request
 * carry query parameters a route does not take. Both answer a `Problem`, never a 500.
 */
import { Problem } from "../region/problem.ts";

/** Longest `Accept` header read, in characters; a longer one is judged on its first part. */
export const ACCEPT_CHARS_MAX = 4_096;

interface MediaRange {
  readonly type: string;
  readonly subtype: string;
  readonly q: number;
}

function parseRange(part: string): MediaRange | null {
  const [range, ...params] = part.split(";").map((p) => p.trim());
  const slash = range.indexOf("/");
  if (slash <= 0 || slash === range.length - 1) return null;
  let q = 1;
  for (const param of params) {
    const [name, value] = param.split("=").map((p) => p.trim());
    if (name.toLowerCase() !== "q") continue;
    // A q-value is 0 … 1 with at most three decimals; anything else: ignore the range.
    if (!/^(0(\.\d{0,3})?|1(\.0{0,3})?)$/.test(value ?? "")) return null;
    q = Number(value);
  }
  const type = range.slice(0, slash).toLowerCase();
  const subtype = range.slice(slash + 1).toLowerCase();
  if (type === "*" && subtype !== "*") return null;
  return { type, subtype, q };
}

/**
 * True when `accept` (an `Accept` header, or null when absent) allows `mediaType` (e.g.
 * `text/event-stream`): absent or empty allows anything; otherwise the most specific range that
 * matches decides, and a match with `q=0` (or no match at all) refuses. Malformed ranges are
 * ignored; a header of nothing but malformed ranges allows anything, as if absent.
 */
export function accepts(accept: string | null, mediaType: string): boolean {
  if (accept === null || accept.trim() === "") return true;
  const [type, subtype] = mediaType.toLowerCase().split("/");
  const ranges = accept.slice(0, ACCEPT_CHARS_MAX).split(",").map(parseRange)
    .filter((r) => r !== null);
  if (ranges.length === 0) return true;
  let best: MediaRange | null = null;
  let bestRank = -1;
  for (const range of ranges) {
    const rank = range.type === type && range.subtype === subtype
      ? 2
      : range.type === type && range.subtype === "*"
      ? 1
      : range.type === "*"
      ? 0
      : -1;
    if (rank > bestRank) [best, bestRank] = [range, rank];
  }
  return best !== null && best.q > 0;
}

/** Throws 406 `not-acceptable` unless the request's `Accept` allows `mediaType`. */
export function requireAccept(accept: string | null, mediaType: string): void {
  if (accepts(accept, mediaType)) return;
  throw new Problem(
    "not-acceptable",
    `This route answers ${mediaType} only; the request's Accept does not allow it`,
  );
}

/** Throws 400 `invalid-request` naming the first query parameter not in `allowed`. */
export function refuseUnknownQuery(url: string, allowed: readonly string[] = []): void {
  for (const name of new URL(url).searchParams.keys()) {
    if (allowed.includes(name)) continue;
    throw new Problem(
      "invalid-request",
      `Unknown query parameter ${JSON.stringify(name.slice(0, 64))}${
        allowed.length === 0 ? ": this route takes none" : ""
      }`,
    );
  }
}
