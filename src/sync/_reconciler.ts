/**
 * The client of range reconciliation, frame version 2 (cells; the protocol is described in
 * `range_reconcile.ts`, the frames in `_cell_frame.ts`): one `Reconciler` owns one session with
 * one server. Private to `src/sync/`; import it from `range_reconcile.ts`.
 */
import { ID_BYTES, type IdTrie } from "./id_trie.ts";
import {
  type Cell,
  CELL_ID_BYTES,
  cellAt,
  cellOf,
  diffLists,
  inPrefix,
  newCell,
  pureId,
  saltWords,
  subCellFingerprint,
  type SubCells,
  subCells,
  sum16,
} from "./_cell.ts";
import {
  type CellAnswer,
  type CellEntry,
  type CellRange,
  decodeCellResponse,
  encodeCellRequest,
  presentCells,
  presentCount,
  requestRangeBytes,
  subCellPath,
  SYNC_CELL_RANGES_MAX,
  SYNC_FRAME_BYTES_MAX,
  SYNC_SALT_BYTES,
} from "./_cell_frame.ts";
import {
  type Differing,
  estimateDifferences,
  expectIn,
  PLAN_CELLS_PER_DIFFERENCE,
  PLAN_CELLS_PER_DIFFERENCE_AGAIN,
  planRegion,
  type Region,
  strataRegions,
} from "./_cell_plan.ts";
import { idsUnder } from "./_cell_respond.ts";
import { compareBytes, SYNC_RANGE_IDS_MAX, SyncFrameError } from "./_range_frame.ts";
import {
  type ReconcilerOptions,
  type ReconcileStep,
  SYNC_ROUNDS_MAX,
  SYNC_SESSION_BYTES_MAX,
  SYNC_SESSION_DIFFERENCES_MAX,
  SYNC_SESSION_RANGES_MAX,
  SyncBudgetError,
} from "./_session.ts";

/**
 * Default request size cap of a version-2 client, bytes: a session limited to
 * `SYNC_SESSION_DIFFERENCES_MAX` asks ~16,000 sub-cells a round (~64 KB), and the cap keeps what a
 * hostile server can make the client compute and receive per round small. Sessions meant to find
 * far more differences at once raise it up to `SYNC_FRAME_BYTES_MAX`.
 */
export const SYNC_CLIENT_FRAME_BYTES = 262_144;
const CLIENT_FRAME_BYTES_MIN = 1_024;
const REQUEST_HEADER_BYTES = 1 + SYNC_SALT_BYTES + 3;

/**
 * The client of one reconciliation session over its own `trie`: `start()` gives the first
 * request, `receive()` digests each response and gives the next request, until `next` is null.
 * `have` and `need` over all steps are the two set differences, each id reported once. Either
 * trie may grow during the session: ids added meanwhile may be reported (moving them again is
 * idempotent) or missed (the next session finds them).
 *
 * Round 1 asks about nested strata of the id space (cells 4, 8, 12, ... bits deep); what
 * differs there estimates the difference d. Each differing cell is then split into about 4
 * sub-cells per difference it should hold, so most sub-cells differ by one id, which the
 * server's cell names (its sum less ours, confirmed by the check); sub-cells still holding
 * several are split again more finely, or listed when the server holds few ids there.
 *
 * The work a server can cause is bounded as in version 1: rounds (`roundsMax`) and differences
 * reported (`differencesMax`) end the session quietly; outstanding ranges (`rangesMax`) and
 * frame bytes (`bytesMax`) end it with `SyncBudgetError`; each split goes at least one bit
 * deeper, and a range is at most 255 bits deep. Each received entry costs one cell of the
 * client's trie (or its ids, at most `SYNC_RANGE_IDS_MAX`).
 */
export class Reconciler<T> {
  readonly #trie: IdTrie<T>;
  readonly #frameBytesMax: number;
  readonly #roundsMax: number;
  readonly #differencesMax: number;
  readonly #rangesMax: number;
  readonly #bytesMax: number;
  readonly #startAt: number;
  readonly #salt: Uint8Array;
  readonly #saltWords: Uint32Array;
  #queue: Region[] = [];
  #sent: Sent[] = [];
  #rounds = 0;
  #bytes = 0;
  #differences = 0;
  #estimate = 0;
  #started = false;
  #dropped = false;
  #cut: "rounds" | "differences" | null = null;

  constructor(trie: IdTrie<T>, options: ReconcilerOptions = {}) {
    this.#trie = trie;
    this.#frameBytesMax = options.frameBytesMax ?? SYNC_CLIENT_FRAME_BYTES;
    this.#roundsMax = options.roundsMax ?? SYNC_ROUNDS_MAX;
    this.#differencesMax = options.differencesMax ?? SYNC_SESSION_DIFFERENCES_MAX;
    this.#rangesMax = options.rangesMax ?? SYNC_SESSION_RANGES_MAX;
    this.#bytesMax = options.bytesMax ?? SYNC_SESSION_BYTES_MAX;
    this.#startAt = Number.isFinite(options.startAt) ? Math.abs(Math.trunc(options.startAt!)) : 0;
    this.#salt = options.salt ?? crypto.getRandomValues(new Uint8Array(SYNC_SALT_BYTES));
    this.#saltWords = saltWords(this.#salt);
    const [f, r] = [this.#frameBytesMax, this.#roundsMax];
    if (!Number.isInteger(f) || f < CLIENT_FRAME_BYTES_MIN || f > SYNC_FRAME_BYTES_MAX) {
      throw new RangeError(`Cannot reconcile with frameBytesMax ${f}`);
    }
    if (!Number.isInteger(r) || r < 1) throw new RangeError(`Cannot reconcile with roundsMax ${r}`);
    if (!(this.#differencesMax >= 1)) {
      throw new RangeError(`Cannot reconcile with differencesMax ${this.#differencesMax}`);
    }
    if (!(this.#rangesMax >= 64) || !(this.#bytesMax >= 2 * f)) {
      throw new RangeError(
        `Cannot reconcile with rangesMax ${this.#rangesMax} or bytesMax ${this.#bytesMax}`,
      );
    }
    if (this.#salt.length !== SYNC_SALT_BYTES) throw new RangeError("A salt is 8 bytes");
  }

  /** Requests sent so far. */
  get rounds(): number {
    return this.#rounds;
  }

  /** Ranges queued or awaiting an answer (bounded by `rangesMax`). */
  get outstanding(): number {
    return this.#queue.length + this.#sent.length;
  }

  /** Frame bytes sent and received so far. */
  get bytes(): number {
    return this.#bytes;
  }

  /** The first round's estimate of the number of differences (0 before it). */
  get estimate(): number {
    return this.#estimate;
  }

  /** Whether the session ran to the end (false while running, or when a bound cut it). */
  get complete(): boolean {
    return this.#started && !this.#dropped && this.#sent.length === 0 &&
      this.#queue.length === 0;
  }

  /** What ended an incomplete session: `roundsMax` or `differencesMax`; null otherwise. */
  get cut(): "rounds" | "differences" | null {
    return this.#cut;
  }

  /** The first request: the strata of the whole id space. */
  start(): Uint8Array {
    if (this.#started) throw new Error("Cannot start a Reconciler twice");
    this.#started = true;
    this.#queue = strataRegions(this.#trie.size);
    return this.#emit()!;
  }

  /**
   * Digests the response to the last request. Throws `SyncFrameError` if it is malformed or
   * answers nothing, and `SyncBudgetError` when the session outgrows its budgets; the session
   * is over after either.
   */
  receive(response: Uint8Array): ReconcileStep {
    if (this.#sent.length === 0) throw new Error("Cannot receive a response with no request out");
    this.#spend(response.length);
    const sent = this.#sent;
    const frame = decodeCellResponse(response, sent.map((s) => s.range));
    if (frame.answers.length === 0) {
      throw new SyncFrameError("unexpected", "Cannot accept a response that answers no range");
    }
    // Every entry may open a range: refuse a response that could outgrow the budget before
    // spending work on it (honest responses of a bounded session hold a few thousand).
    const entries = frame.answers.reduce((n, a) => n + a.entries.length, 0);
    if (entries + this.#queue.length > this.#rangesMax) {
      throw new SyncBudgetError("ranges", entries + this.#queue.length, this.#rangesMax);
    }
    this.#sent = [];
    const have: Uint8Array[] = [], need: Uint8Array[] = [];
    const differing: Differing[] = [];
    frame.answers.forEach((answer, i) => this.#digest(sent[i], answer, { have, need, differing }));
    const outstanding = differing.length + this.#queue.length + sent.length - frame.answers.length;
    if (outstanding > this.#rangesMax) {
      throw new SyncBudgetError("ranges", outstanding, this.#rangesMax);
    }
    const first = this.#rounds === 1;
    if (first) this.#estimateFrom(sent, frame.answers, differing, have.length + need.length);
    let fresh = differing.map((d) => this.#plan(d, first));
    if (first) fresh = this.#scope(fresh, have.length + need.length);
    const deferred = sent.slice(frame.answers.length).map((s) => s.region);
    this.#queue = [...deferred, ...fresh, ...this.#queue];
    if (this.#queue.length > this.#rangesMax) {
      throw new SyncBudgetError("ranges", this.#queue.length, this.#rangesMax);
    }
    this.#differences += have.length + need.length;
    if (this.#differences >= this.#differencesMax && this.#queue.length > 0) {
      this.#cut = "differences";
      return { next: null, have, need };
    }
    return { next: this.#emit(), have, need };
  }

  /** One answered range: resolve what its entries settle, collect what still differs. */
  #digest({ range, region, cells: mine }: Sent, answer: CellAnswer, out: Found): void {
    const cells = presentCells(range);
    const cellBits = range.bits + range.split;
    const prior = region.mask === null && region.expect > 0
      ? region.expect / 2 ** range.split
      : null;
    let e = 0;
    cells.forEach((j, k) => {
      if ((answer.differ[k >> 3] & (1 << (k & 7))) === 0) return;
      const entry = answer.entries[e++];
      const path = subCellPath(range, j);
      const left = entry.kind === "ids"
        ? this.#diffIds(path, cellBits, entry, out)
        : this.#decodeCell(path, cellBits, entry, cellOf(mine, k), out, prior);
      if (left !== null) out.differing.push(left);
    });
  }

  /** A server id list: diff both ways; a mismatch the 16-byte prefixes cannot show asks wide. */
  #diffIds(
    path: Uint8Array,
    bits: number,
    entry: Extract<CellEntry, { kind: "ids" }>,
    out: Found,
  ): Differing | null {
    const mine = idsUnder(this.#trie, path, bits);
    const { mineOnly, theirsOnly } = diffLists(mine, entry.ids, entry.width);
    out.have.push(...mineOnly);
    out.need.push(...theirsOnly);
    const found = mineOnly.length + theirsOnly.length, theirs = entry.ids;
    if (found > 0 || entry.width === ID_BYTES) return null;
    return { path, bits, least: 2, theirs: theirs.length, mine: mine.length, prior: 2, wide: true };
  }

  /** A server cell: one id when it is pure, else a range to ask about again. */
  #decodeCell(
    path: Uint8Array,
    bits: number,
    entry: Extract<CellEntry, { kind: "cell" }>,
    mine: Cell,
    out: Found,
    prior: number | null,
  ): Differing | null {
    // Past 128 bits every id of the cell has the same first 16 bytes: a cell names none.
    const pure = bits < 8 * CELL_ID_BYTES ? pureId(entry, mine) : null;
    if (pure !== null && this.#settle(pure.sign, pure.id16, path, bits, out)) return null;
    const delta = Math.abs(entry.count - mine.count);
    const same = delta === 0 && compareBytes(entry.sum16, sum16(mine), CELL_ID_BYTES) === 0 &&
      entry.check[0] === mine.check[0] && entry.check[1] === mine.check[1];
    const least = delta >= 2 ? delta : delta === 1 ? 3 : 2;
    return { path, bits, least, theirs: entry.count, mine: mine.count, prior, wide: same };
  }

  /** Reports the id a pure cell names, if it checks out against the client's own ids. */
  #settle(sign: 1 | -1, id16: Uint8Array, path: Uint8Array, bits: number, out: Found): boolean {
    const held = this.#trie.lookup(id16, SYNC_RANGE_IDS_MAX)
      .filter((e) => inPrefix(e.id, path, bits)).map((e) => e.id);
    if (sign === -1) {
      // Two of ours under one 16-byte prefix: the cell cannot say which; ask for full ids.
      if (held.length !== 1) return false;
      out.have.push(held[0]);
      return true;
    }
    if (held.length > 0 || !inPrefix(id16, path, bits)) return false;
    out.need.push(id16);
    return true;
  }

  /** The estimate of d from the strata: how many cells of each differed. */
  #estimateFrom(
    sent: readonly { range: CellRange }[],
    answers: readonly CellAnswer[],
    differing: readonly Differing[],
    found: number,
  ): void {
    const strata = answers.map((answer, i) => ({
      bits: sent[i].range.bits + sent[i].range.split,
      asked: presentCount(sent[i].range),
      differ: answer.entries.length,
    }));
    let theirs = this.#trie.size, least = found;
    for (const d of differing) (theirs += d.theirs - d.mine, least += d.least);
    this.#estimate = estimateDifferences(strata, least, this.#trie.size + Math.max(theirs, 0));
  }

  #plan(range: Differing, first: boolean): Region {
    const prior = range.prior ?? this.#estimate / 2 ** range.bits;
    const perDifference = first ? PLAN_CELLS_PER_DIFFERENCE : PLAN_CELLS_PER_DIFFERENCE_AGAIN;
    const room = this.#frameBytesMax - REQUEST_HEADER_BYTES - 64;
    return planRegion(range, expectIn(range, prior), perDifference, room);
  }

  /**
   * Keeps what a session limited to `differencesMax` can take: whole regions in rotated order
   * (from `startAt`) while their expected differences fit; if not even one fits, a window of
   * the first, a power of two smaller. Anything left out makes the session incomplete.
   */
  #scope(fresh: Region[], found: number): Region[] {
    const budget = this.#differencesMax - found;
    const total = fresh.reduce((sum, r) => sum + r.expect, 0);
    if (!Number.isFinite(budget) || total <= budget || fresh.length === 0) return fresh;
    this.#dropped = true;
    this.#cut = "differences";
    const first = this.#startAt % fresh.length;
    const rotated = [...fresh.slice(first), ...fresh.slice(0, first)];
    const kept: Region[] = [];
    let sum = 0;
    for (const region of rotated) {
      if (sum + region.expect > Math.max(budget, 1)) continue;
      kept.push(region);
      sum += region.expect;
    }
    if (kept.length > 0) return kept;
    return [this.#window(rotated[0], Math.max(budget, 1))];
  }

  /** A window of `region` holding about `budget` of its expected differences. */
  #window(region: Region, budget: number): Region {
    const w = Math.min(Math.ceil(Math.log2(region.expect / budget)), 255 - region.bits);
    const path = subCellPath({ ...region, split: w }, Math.floor(this.#startAt / 16) % 2 ** w);
    const [bits, expect] = [region.bits + w, region.expect / 2 ** w];
    const mine = cellAt(this.#trie, path, bits, newCell()).count;
    const range = { path, bits, least: 1, theirs: mine, mine, prior: expect, wide: region.wide };
    const room = this.#frameBytesMax - REQUEST_HEADER_BYTES - 64;
    return planRegion(range, expect, PLAN_CELLS_PER_DIFFERENCE, room);
  }

  /** Takes what fits of the queue into the next request. */
  #emit(): Uint8Array | null {
    if (this.#queue.length === 0) return null;
    if (this.#rounds >= this.#roundsMax) {
      this.#cut = "rounds";
      return null;
    }
    let bytes = REQUEST_HEADER_BYTES;
    let taken = 0;
    while (taken < this.#queue.length && taken < SYNC_CELL_RANGES_MAX) {
      const size = requestRangeBytes(this.#queue[taken]);
      if (taken > 0 && bytes + size > this.#frameBytesMax) break;
      bytes += size;
      taken++;
    }
    this.#sent = this.#queue.splice(0, taken).map((region) => this.#build(region));
    this.#rounds++;
    const request = encodeCellRequest({ salt: this.#salt, ranges: this.#sent.map((s) => s.range) });
    this.#spend(request.length);
    return request;
  }

  /** A region as a request range: the client's fingerprint of each asked sub-cell. */
  #build(region: Region): Sent {
    const cells = presentCells(region);
    const mine = subCells(this.#trie, region.path, region.bits, region.split, cells);
    const fingerprints = new Uint32Array(cells.length);
    for (let k = 0; k < cells.length; k++) {
      fingerprints[k] = subCellFingerprint(this.#saltWords, mine, k);
    }
    const path = region.path.slice(0, (region.bits + 7) >> 3);
    return { region, range: { ...region, path, fingerprints }, cells: mine };
  }

  #spend(bytes: number): void {
    this.#bytes += bytes;
    if (this.#bytes > this.#bytesMax) {
      throw new SyncBudgetError("bytes", this.#bytes, this.#bytesMax);
    }
  }
}

/** A region sent, as the range it was sent as and the client's cells of it. */
interface Sent {
  readonly region: Region;
  readonly range: CellRange;
  readonly cells: SubCells;
}

interface Found {
  readonly have: Uint8Array[];
  readonly need: Uint8Array[];
  readonly differing: Differing[];
}
