/**
 * How the version-2 client sizes its questions (`_reconciler.ts`): the estimate of the
 * difference from the first round's strata, and, for each range still differing, how finely to
 * split it (about `PLAN_CELLS_PER_DIFFERENCE` sub-cells a difference, so most sub-cells hold one
 * difference and decode at once) or whether to ask for the server's ids outright (when they are
 * few against the difference). Private to `src/sync/`.
 */
import { CELL_BITS_MAX } from "./_cell.ts";
import {
  answerBytesMax,
  SYNC_ANSWER_BYTES_MAX,
  SYNC_CELL_FINGERPRINT_BYTES,
  SYNC_SPLIT_BITS_MAX,
} from "./_cell_frame.ts";
import { SYNC_RANGE_IDS_MAX } from "./_range_frame.ts";

/**
 * Sub-cells per expected difference in the first split of a range (the round after the
 * strata): a difference is alone in its sub-cell with probability e^(-1/4) ≈ 78%. Measured
 * (bench/reconcile.ts) against 2 and 8: 2 costs a round more at 10,000 differences, 8 about a
 * quarter more bytes.
 */
export const PLAN_CELLS_PER_DIFFERENCE = 4;
/** Sub-cells per expected difference when splitting a sub-cell that held several: finish fast. */
export const PLAN_CELLS_PER_DIFFERENCE_AGAIN = 16;
/** Server ids per sub-cell aimed at when asking for id lists (half of what a list may hold). */
export const PLAN_LIST_IDS = SYNC_RANGE_IDS_MAX / 2;
/** Ask for the server's ids outright when it holds at most this many per expected difference. */
export const PLAN_LIST_IDS_PER_DIFFERENCE = 4;

/** Deepest split that may still be answered with full id lists (1,024 sub-cells of 64 ids). */
export const PLAN_LIST_SPLIT_MAX = 10;

/** A range the client will ask about: what a request range is made from. */
export interface Region {
  /** The prefix, padded to 32 bytes (bits past `bits` are 0). */
  readonly path: Uint8Array;
  readonly bits: number;
  readonly split: number;
  readonly listMax: number;
  readonly wide: boolean;
  readonly mask: Uint8Array | null;
  /** Differences expected in it (an estimate; only sizes the next split). */
  readonly expect: number;
}

/** A range found still differing, to be planned into a region. */
export interface Differing {
  readonly path: Uint8Array;
  readonly bits: number;
  /** Fewest differences it can hold (from the counts' difference and its parity). */
  readonly least: number;
  /** Server's and client's ids in it. */
  readonly theirs: number;
  readonly mine: number;
  /** Differences expected before looking (from the parent), or null for the strata. */
  readonly prior: number | null;
  /** The 16-byte id prefixes could not tell the sides apart: ask for full ids. */
  readonly wide: boolean;
}

/** The first request's ranges: the whole space in nested strata 4, 8, ... bits deep. */
export function strataRegions(ids: number): Region[] {
  const depth = Math.min(6, Math.max(2, Math.ceil(Math.log(ids + 1) / Math.log(16))));
  return Array.from({ length: depth }, (_, j) => {
    const mask = j === depth - 1 ? null : Uint8Array.of(0xfe, 0xff);
    return {
      path: new Uint8Array(32),
      bits: 4 * j,
      split: 4,
      listMax: 1,
      wide: false,
      mask,
      expect: 0,
    };
  });
}

/**
 * Maximum-likelihood estimate of the number of differences from how many asked cells of each
 * stratum differed, if differences fall uniformly: a cell `bits` deep differs with probability
 * 1 − e^(−d / 2^bits). Clamped to [lower, upper].
 */
export function estimateDifferences(
  strata: readonly { bits: number; asked: number; differ: number }[],
  lower: number,
  upper: number,
): number {
  const hi = Math.max(upper, lower, 1);
  if (strata.every((s) => s.differ === 0)) return lower;
  const logLikelihood = (d: number) =>
    strata.reduce((sum, s) => {
      const p = d / 2 ** s.bits;
      return sum + s.differ * Math.log(-Math.expm1(-p)) - (s.asked - s.differ) * p;
    }, 0);
  let [a, b] = [0, Math.log(hi)];
  for (let k = 0; k < 80; k++) {
    const m1 = a + (b - a) / 3, m2 = b - (b - a) / 3;
    if (logLikelihood(Math.exp(m1)) < logLikelihood(Math.exp(m2))) a = m1;
    else b = m2;
  }
  return Math.min(hi, Math.max(lower, Math.exp((a + b) / 2)));
}

/**
 * The region that asks about a differing range next: an id list (split so each sub-cell holds
 * about `PLAN_LIST_IDS` server ids) when the server's ids are few against the expected
 * difference, else a split into about `cellsPerDifference` sub-cells per expected difference.
 * `requestBytesMax` bounds the fingerprints one region may send.
 */
export function planRegion(
  range: Differing,
  expect: number,
  cellsPerDifference: number,
  requestBytesMax: number,
): Region {
  const room = Math.min(
    SYNC_SPLIT_BITS_MAX,
    CELL_BITS_MAX - range.bits,
    Math.floor(Math.log2(requestBytesMax / SYNC_CELL_FINGERPRINT_BYTES)),
  );
  const base = { path: range.path, bits: range.bits, wide: range.wide, mask: null, expect };
  const list = range.wide || range.mine === 0 ||
    range.theirs <= PLAN_LIST_IDS_PER_DIFFERENCE * Math.max(expect, 2);
  if (list) {
    const want = Math.ceil(Math.log2(Math.max(range.theirs, 1) / PLAN_LIST_IDS));
    const split = clamp(want, 0, Math.min(room, PLAN_LIST_SPLIT_MAX));
    return { ...base, split, listMax: fitList(split, SYNC_RANGE_IDS_MAX) };
  }
  const split = clamp(Math.round(Math.log2(cellsPerDifference * expect)), 1, room);
  const perCell = range.theirs / 2 ** split;
  return { ...base, split, listMax: fitList(split, perCell < 2 ? 2 : 1) };
}

/** The largest listMax ≤ `want` whose worst-case answer fits (`SYNC_ANSWER_BYTES_MAX`). */
function fitList(split: number, want: number): number {
  let listMax = want;
  while (listMax > 0 && answerBytesMax({ split, mask: null, listMax }) > SYNC_ANSWER_BYTES_MAX) {
    listMax = Math.floor(listMax / 2);
  }
  return listMax;
}

/** Differences to expect in a differing range, from its prior and what its counts prove. */
export function expectIn(range: Differing, prior: number): number {
  return Math.max(range.least, prior, 2);
}

function clamp(n: number, lo: number, hi: number): number {
  return Math.max(lo, Math.min(hi, n));
}
