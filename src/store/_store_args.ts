/**
 * Argument checks shared by every RegionStore for the region log, named cursors and leases. A
 * bad argument is a programmer bug, so these throw (RangeError or TypeError) instead of answering.
 */
import {
  ARRIVAL_COUNTS_CHANNELS_MAX,
  CHANGE_MARKS_CHANNELS_MAX,
  CURSORS_READ_MAX,
  type DeltaOrigin,
} from "./region_store.ts";

/** Most region-log entries one `listLog` page returns, whatever `limit` asks for. */
export const LOG_PAGE_ENTRIES_MAX = 1_000;
/** Longest cursor name, lease name or lease holder, in characters. */
export const STORE_NAME_CHARS_MAX = 256;

/** Checks the argument of `arrivalCounts`: an array of at most ARRIVAL_COUNTS_CHANNELS_MAX strings. */
export function assertArrivalCounts(
  channels: readonly string[],
  most = ARRIVAL_COUNTS_CHANNELS_MAX,
): void {
  if (!Array.isArray(channels) || !channels.every((c) => typeof c === "string")) {
    throw new TypeError("Cannot count arrivals as 'channels' must be an array of strings");
  }
  if (channels.length > most) {
    throw new RangeError(
      `Cannot count arrivals of ${channels.length} channels in one call: at most ${most}`,
    );
  }
}

/** Checks a cursor list given to `getCursors`: names, at most CURSORS_READ_MAX of them. */
export function assertCursorNames(names: readonly string[]): void {
  if (!Array.isArray(names) || names.length > CURSORS_READ_MAX) {
    throw new RangeError(
      `Cannot read cursors as 'names' must be an array of at most ${CURSORS_READ_MAX} names`,
    );
  }
  for (const name of names) assertName("cursor name", name);
}

export function assertLogPage(after: number, limit: number): void {
  if (!Number.isSafeInteger(after) || after < 0 || !Number.isSafeInteger(limit) || limit < 0) {
    throw new RangeError(
      `Cannot list the region log as 'after' and 'limit' must be non-negative integers: after is ${after}, limit is ${limit}`,
    );
  }
}

export function assertName(what: string, name: string): void {
  if (typeof name !== "string" || name.length === 0 || name.length > STORE_NAME_CHARS_MAX) {
    throw new TypeError(
      `Cannot use ${what} as it must be 1 to ${STORE_NAME_CHARS_MAX} characters: ${
        JSON.stringify(name)
      }`,
    );
  }
}

export function assertCursorAdvance(name: string, n: number): void {
  assertName("cursor name", name);
  if (!Number.isSafeInteger(n) || n < 0) {
    throw new RangeError(
      `Cannot advance cursor "${name}" as 'n' must be a non-negative integer: n is ${n}`,
    );
  }
}

export function assertLeaseRequest(
  name: string,
  holder: string,
  ttlMs: number,
  nowMs: number,
): void {
  assertName("lease name", name);
  assertName("lease holder", holder);
  if (
    !Number.isSafeInteger(ttlMs) || ttlMs < 1 || !Number.isSafeInteger(nowMs) || nowMs < 0 ||
    !Number.isSafeInteger(nowMs + ttlMs)
  ) {
    throw new RangeError(
      `Cannot acquire lease "${name}" as 'ttlMs' must be a positive integer and 'nowMs' a non-negative one: ttlMs is ${ttlMs}, nowMs is ${nowMs}`,
    );
  }
}

/** Every origin the region log records; `satisfies` fails the build when the union changes. */
const ORIGINS = {
  agent: true,
  zone: true,
  remote: true,
  relay: true,
  sync: true,
} as const satisfies Record<DeltaOrigin, true>;

export function assertOrigin(origin: DeltaOrigin): void {
  if (!Object.hasOwn(ORIGINS, origin)) {
    throw new TypeError(`Cannot store deltas as their origin is unknown: ${String(origin)}`);
  }
}

/** Checks the argument of `changeMarks`: an array of at most CHANGE_MARKS_CHANNELS_MAX strings. */
export function assertChangeMarks(channels: readonly string[]): void {
  assertArrivalCounts(channels, CHANGE_MARKS_CHANNELS_MAX);
}
