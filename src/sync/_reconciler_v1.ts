/**
 * The client of range reconciliation frame version 1 (see `_range_frame.ts`), kept so that a
 * region can still be tested against — and talk to — a region that answers only version 1: one
 * `ReconcilerV1` owns one session with one server. New sessions use `Reconciler` (version 2,
 * `_reconciler.ts`). Private to `src/sync/`; import it from `range_reconcile.ts`.
 */
import { IdAccumulator } from "../protocol/fingerprint.ts";
import { ID_BYTES, ID_NIBBLES, type IdTrie } from "./id_trie.ts";
import {
  childPath,
  CHILDREN_PER_RANGE,
  CHILDREN_RANGE_BYTES_MAX,
  childrenRange,
  compareBytes,
  decodeFrame,
  encodeFrame,
  equalBytes,
  FRAME_HEADER_BYTES_MAX,
  packPath,
  pathKey,
  rangeBytes,
  SYNC_FINGERPRINT_BYTES,
  SYNC_FRAME_RANGES_MAX,
  SYNC_FRAME_V1_BYTES_MAX,
  SyncFrameError,
  type SyncRange,
  wireFingerprint,
} from "./_range_frame.ts";
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
 * A differing child where the client holds at most this many ids is asked about whole (one
 * FINGERPRINT range) instead of by its 16 children: the server most likely holds few there too
 * and lists them at once. Measured: disjoint 10k vs 10k drops from 17 rounds and 750 KB to 5
 * rounds and 280 KB; 100 differences in 10k cost ~10% more bytes, in 1M nothing measurable.
 */
export const SYNC_WHOLE_RANGE_IDS_MAX = 8;
/** Default depth, in nibbles, of the ranges the first request fingerprints (256 ranges). */
export const SYNC_START_NIBBLES = 2;
/** Deepest first request the client accepts, in nibbles (256 CHILDREN ranges, ≤ 34 KB). */
export const SYNC_START_NIBBLES_MAX = 3;
const CLIENT_FRAME_BYTES_MIN = 256;

if (CLIENT_FRAME_BYTES_MIN < FRAME_HEADER_BYTES_MAX + CHILDREN_RANGE_BYTES_MAX) {
  throw new Error("CLIENT_FRAME_BYTES_MIN must hold the largest request range");
}
if (
  SYNC_SESSION_RANGES_MAX < 16 ** SYNC_START_NIBBLES_MAX ||
  SYNC_SESSION_BYTES_MAX < 4 * SYNC_FRAME_V1_BYTES_MAX
) {
  throw new Error("a session's budgets must hold its first request and a few full rounds");
}

/** A range still to ask about; its fingerprints are computed when it is sent. */
interface Pending {
  readonly prefix: Uint8Array;
  readonly ask: "fingerprint" | "wide" | "children";
}

/**
 * The client of one reconciliation session over its own `trie`: `start()` gives the first
 * request, `receive()` digests each response and gives the next request, until `next` is null.
 * `have` and `need` over all steps are the two set differences, each id reported once. Either
 * trie may grow during the session: ids added meanwhile may be reported (moving them again is
 * idempotent) or missed (the next session finds them).
 *
 * The work a server can cause is bounded: rounds (`roundsMax`), differences reported
 * (`differencesMax`) end the session quietly; outstanding ranges (`rangesMax`) and frame bytes
 * (`bytesMax`) end it with `SyncBudgetError`; depth is at most `ID_NIBBLES` (a range 64 nibbles
 * deep is one id). Each received range costs at most 16 fingerprints of the client's trie.
 */
export class ReconcilerV1<T> {
  readonly #trie: IdTrie<T>;
  readonly #frameBytesMax: number;
  readonly #startNibbles: number;
  readonly #startAt: number;
  readonly #roundsMax: number;
  readonly #differencesMax: number;
  readonly #rangesMax: number;
  readonly #bytesMax: number;
  #queue: Pending[] = [];
  /** Ranges the response being read opened, in order; they go to the front of the queue. */
  #fresh: Pending[] = [];
  #sent: SyncRange[] = [];
  #rounds = 0;
  #bytes = 0;
  #differences = 0;
  #started = false;
  #cut: "rounds" | "differences" | null = null;

  constructor(trie: IdTrie<T>, options: ReconcilerOptions = {}) {
    this.#trie = trie;
    this.#frameBytesMax = options.frameBytesMax ?? SYNC_FRAME_V1_BYTES_MAX;
    this.#startNibbles = options.startNibbles ?? SYNC_START_NIBBLES;
    this.#startAt = Number.isFinite(options.startAt) ? options.startAt! : 0;
    this.#roundsMax = options.roundsMax ?? SYNC_ROUNDS_MAX;
    this.#differencesMax = options.differencesMax ?? SYNC_SESSION_DIFFERENCES_MAX;
    this.#rangesMax = options.rangesMax ?? SYNC_SESSION_RANGES_MAX;
    this.#bytesMax = options.bytesMax ?? SYNC_SESSION_BYTES_MAX;
    const [f, s, r] = [this.#frameBytesMax, this.#startNibbles, this.#roundsMax];
    if (!Number.isInteger(f) || f < CLIENT_FRAME_BYTES_MIN || f > SYNC_FRAME_V1_BYTES_MAX) {
      throw new RangeError(`Cannot reconcile with frameBytesMax ${f}`);
    }
    if (!Number.isInteger(s) || s < 0 || s > SYNC_START_NIBBLES_MAX) {
      throw new RangeError(`Cannot reconcile with startNibbles ${s}: 0..${SYNC_START_NIBBLES_MAX}`);
    }
    if (!Number.isInteger(r) || r < 1) throw new RangeError(`Cannot reconcile with roundsMax ${r}`);
    if (!(this.#differencesMax >= 1)) {
      throw new RangeError(`Cannot reconcile with differencesMax ${this.#differencesMax}`);
    }
    if (!(this.#rangesMax >= 16 ** SYNC_START_NIBBLES_MAX) || !(this.#bytesMax >= 2 * f)) {
      throw new RangeError(
        `Cannot reconcile with rangesMax ${this.#rangesMax} or bytesMax ${this.#bytesMax}`,
      );
    }
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

  /**
   * Whether the session ran to the end (false while running, or when `roundsMax` or
   * `differencesMax` cut it).
   */
  get complete(): boolean {
    return this.#started && this.#sent.length === 0 && this.#queue.length === 0;
  }

  /** What ended an incomplete session: `roundsMax` or `differencesMax`; null otherwise. */
  get cut(): "rounds" | "differences" | null {
    return this.#cut;
  }

  /** The first request: the fingerprints of every range `startNibbles` deep. */
  start(): Uint8Array {
    if (this.#started) throw new Error("Cannot start a ReconcilerV1 twice");
    this.#started = true;
    if (this.#startNibbles === 0) {
      this.#queue.push({ prefix: new Uint8Array(0), ask: "fingerprint" });
    } else {
      const parents = 16 ** (this.#startNibbles - 1);
      const first = Math.abs(Math.trunc(this.#startAt)) % parents;
      for (let q = 0; q < parents; q++) {
        const p = (first + q) % parents;
        const path = new Uint8Array(this.#startNibbles - 1);
        for (let i = path.length - 1, v = p; i >= 0; i--, v >>= 4) path[i] = v & 15;
        this.#queue.push({ prefix: path, ask: "children" });
      }
    }
    return this.#emit()!;
  }

  /**
   * Digests the response to the last request. Throws `SyncFrameError` if it is malformed,
   * answers something that was not asked or answers nothing at all, and `SyncBudgetError` when
   * the session outgrows its budgets; the session is over after either.
   */
  receive(response: Uint8Array): ReconcileStep {
    if (this.#sent.length === 0) throw new Error("Cannot receive a response with no request out");
    this.#spend(response.length);
    const frame = decodeFrame(response);
    if (frame.deferred > this.#sent.length) {
      throw new SyncFrameError("unexpected", `Cannot defer ${frame.deferred} ranges of fewer`);
    }
    const answered = this.#sent.length - frame.deferred;
    if (answered === 0) {
      // A server can always answer one range (SYNC_RESPONSE_BYTES_MIN): deferring them all
      // would stall the session for its whole round budget.
      throw new SyncFrameError("unexpected", `Cannot accept a response that answers no range`);
    }
    const expected = new Map<string, boolean>();
    for (const range of this.#sent.slice(0, answered)) {
      if (range.kind === "fingerprint") expected.set(pathKey(range.prefix), range.wide);
      for (let c = 0; range.kind === "children" && c < CHILDREN_PER_RANGE; c++) {
        expected.set(pathKey(childPath(range.prefix, c)), false);
      }
    }
    const deferred = this.#sent.slice(answered).map(pending);
    this.#sent = [];
    this.#fresh = [];
    const have: Uint8Array[] = [];
    const need: Uint8Array[] = [];
    frame.ranges.forEach((range, i) => {
      const key = pathKey(range.prefix);
      const wide = expected.get(key);
      expected.delete(key);
      if (wide === undefined || range.kind === "fingerprint") {
        throw new SyncFrameError("unexpected", `Cannot accept response range ${i}: not asked for`);
      }
      if (range.kind === "children") this.#compareChildren(range, have, need);
      else if (wide && range.width !== ID_BYTES) {
        throw new SyncFrameError("unexpected", `Cannot accept range ${i}: full ids were asked for`);
      } else this.#diffIds(range, have, need);
    });
    // Depth first: what this response opened goes before what waited, so a large difference
    // yields ids early and the queue holds about one level's worth, not the whole frontier.
    this.#queue = [...this.#fresh, ...deferred, ...this.#queue];
    this.#fresh = [];
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

  /** Server child fingerprints: settle empty and last-nibble children, descend into the rest. */
  #compareChildren(
    range: Extract<SyncRange, { kind: "children" }>,
    have: Uint8Array[],
    need: Uint8Array[],
  ): void {
    for (let c = 0; c < CHILDREN_PER_RANGE; c++) {
      const child = childPath(range.prefix, c);
      const theirs = range.fingerprints[c];
      const count = this.#trie.count(child);
      if (theirs === null && count === 0) continue;
      if (theirs !== null && equalBytes(wireFingerprint(this.#trie, child), theirs)) continue;
      if (theirs === null) have.push(...this.#trie.ids(child));
      else if (child.length === ID_NIBBLES) {
        if (count === 0) need.push(packPath(child));
      } else {
        const ask = count <= SYNC_WHOLE_RANGE_IDS_MAX ? "fingerprint" : "children";
        this.#fresh.push({ prefix: child, ask });
      }
    }
  }
  /** Server id list: diff both ways, or ask again for full ids if a shared prefix shows. */
  #diffIds(
    range: Extract<SyncRange, { kind: "ids" }>,
    have: Uint8Array[],
    need: Uint8Array[],
  ): void {
    const mine = this.#trie.ids(range.prefix);
    const theirs = range.ids;
    const width = range.width;
    const mineOnly: Uint8Array[] = [];
    const theirsOnly: Uint8Array[] = [];
    const common = new IdAccumulator();
    let i = 0, j = 0, matched = false;
    while (i < mine.length || j < theirs.length) {
      let c = 0;
      if (i === mine.length) c = 1;
      else if (j === theirs.length) c = -1;
      else c = compareBytes(mine[i], theirs[j], width);
      if (c < 0) mineOnly.push(mine[i++]);
      else if (c === 0) {
        common.add(mine[i++]);
        matched = true;
      } else {
        if (!matched) theirsOnly.push(theirs[j]);
        j++;
        matched = false;
      }
    }
    const consistent = equalBytes(
      common.fingerprintBytes().subarray(0, SYNC_FINGERPRINT_BYTES),
      range.fingerprint,
    );
    if (width !== ID_BYTES && theirsOnly.length === 0 && !consistent) {
      this.#fresh.push({ prefix: range.prefix, ask: "wide" });
      return;
    }
    have.push(...mineOnly);
    need.push(...theirsOnly);
  }

  /** Takes what fits of the queue into the next request. */
  #emit(): Uint8Array | null {
    if (this.#queue.length === 0) return null;
    if (this.#rounds >= this.#roundsMax) {
      this.#cut = "rounds";
      return null;
    }
    let bytes = FRAME_HEADER_BYTES_MAX;
    const sent: SyncRange[] = [];
    while (sent.length < this.#queue.length && sent.length < SYNC_FRAME_RANGES_MAX) {
      const range = this.#build(this.#queue[sent.length]);
      const size = rangeBytes(range);
      if (bytes + size > this.#frameBytesMax) break;
      bytes += size;
      sent.push(range);
    }
    this.#queue.splice(0, sent.length);
    this.#sent = sent;
    this.#rounds++;
    const request = encodeFrame({ deferred: 0, ranges: sent });
    this.#spend(request.length);
    return request;
  }

  #build(range: Pending): SyncRange {
    if (range.ask === "children") return childrenRange(this.#trie, range.prefix);
    const fingerprint = wireFingerprint(this.#trie, range.prefix);
    return { kind: "fingerprint", prefix: range.prefix, fingerprint, wide: range.ask === "wide" };
  }

  #spend(bytes: number): void {
    this.#bytes += bytes;
    if (this.#bytes > this.#bytesMax) {
      throw new SyncBudgetError("bytes", this.#bytes, this.#bytesMax);
    }
  }
}

/** A sent range again as a pending one (the server deferred it). */
function pending(range: SyncRange): Pending {
  if (range.kind === "children") return { prefix: range.prefix, ask: "children" };
  return {
    prefix: range.prefix,
    ask: range.kind === "fingerprint" && range.wide ? "wide" : "fingerprint",
  };
}
