/**
 * The store-independent part of `putDeltas`: given what is already stored, decide each delta's
 * outcome and the new author heads. Pure, so every store implementation classifies alike.
 */
import type { AuthorHead, PutOutcome, StoredDelta } from "./region_store.ts";

/** What the plan needs to know about the stored state. */
export interface PlanInput {
  /** Id stored at `slotKey(channel, author, seq)`, for every slot the batch touches. */
  readonly slots: ReadonlyMap<string, string>;
  /**
   * Whether a delta is stored, by `idKey(channel, id)`: asked only for a delta whose slot holds
   * another id (it may be a stored second half of an equivocation).
   */
  readonly stored: (channel: string, id: string) => boolean;
  /** Current head per `headKey(channel, author)` touched by the batch (absent = none yet). */
  readonly heads: ReadonlyMap<string, AuthorHead>;
  /** Next arrival number per channel touched (last used + 1). */
  readonly nextArrival: ReadonlyMap<string, number>;
  /**
   * Whether seq `seq` of an author is stored, for seqs above a head's contiguous mark. Called
   * only while advancing `contiguous` past stored seqs (a seq this batch fills is known from
   * `slots`); stores answer from a read of the run of stored seqs above the head.
   */
  readonly storedAbove: (
    channel: string,
    author: string,
    seq: number,
  ) => boolean;
}

/** Everything a store must write atomically for one accepted delta. */
export interface PlannedWrite {
  readonly delta: StoredDelta;
  readonly arrival: number;
  /** Set for an equivocation: the delta in the slot, which keeps it. */
  readonly existingId?: string;
}

export interface Plan {
  readonly outcomes: PutOutcome[];
  readonly writes: PlannedWrite[];
  /** New heads by head key, and the new last arrival number per channel. */
  readonly heads: Map<string, AuthorHead>;
  readonly lastArrival: Map<string, number>;
}

export const slotKey = (channel: string, author: string, seq: number): string =>
  `${channel}\u0000${author}\u0000${seq}`;
export const headKey = (channel: string, author: string): string => `${channel}\u0000${author}`;
export const idKey = (channel: string, id: string): string => `${channel}\u0000${id}`;

/**
 * Classifies each delta (accepted / duplicate / equivocation) and computes the new heads. An
 * equivocation is written like an accepted delta but leaves the slot to its first holder.
 */
export function planPut(
  deltas: readonly StoredDelta[],
  input: PlanInput,
): Plan {
  const slots = new Map(input.slots);
  const seen = new Set<string>();
  const heads = new Map<string, AuthorHead>();
  const lastArrival = new Map<string, number>();
  const outcomes: PutOutcome[] = [];
  const writes: PlannedWrite[] = [];
  for (const delta of deltas) {
    const slot = slotKey(delta.channel, delta.author, delta.seq);
    const existing = slots.get(slot);
    const id = idKey(delta.channel, delta.id);
    if (
      existing === delta.id || seen.has(id) ||
      (existing !== undefined && input.stored(delta.channel, delta.id))
    ) {
      outcomes.push({ status: "duplicate" });
      continue;
    }
    seen.add(id);
    if (existing === undefined) slots.set(slot, delta.id);
    const arrival = (lastArrival.get(delta.channel) ??
      (input.nextArrival.get(delta.channel) ?? 1) - 1) + 1;
    lastArrival.set(delta.channel, arrival);
    const hk = headKey(delta.channel, delta.author);
    const head = heads.get(hk) ?? input.heads.get(hk) ??
      { contiguous: 0, max: 0, count: 0 };
    // An equivocation leaves max alone (its seq is taken) but may still repair a short head.
    heads.set(hk, advance(head, delta, slots, input));
    if (existing === undefined) {
      outcomes.push({ status: "accepted", arrival });
      writes.push({ delta, arrival });
    } else {
      outcomes.push({ status: "equivocation", arrival, existingId: existing });
      writes.push({ delta, arrival, existingId: existing });
    }
  }
  return { outcomes, writes, heads, lastArrival };
}

/**
 * The head after storing `delta`: `contiguous` runs up over every seq stored before or in this
 * batch, from wherever it stood — not only when `delta` fills the seq right above it — so a head
 * left short by an earlier write (issue 16) is repaired by the author's next write.
 */
function advance(
  head: AuthorHead,
  delta: StoredDelta,
  slots: ReadonlyMap<string, string>,
  input: PlanInput,
): AuthorHead {
  const max = Math.max(head.max, delta.seq);
  const present = (seq: number) =>
    slots.has(slotKey(delta.channel, delta.author, seq)) ||
    input.storedAbove(delta.channel, delta.author, seq);
  let contiguous = head.contiguous;
  while (contiguous < max && present(contiguous + 1)) contiguous++;
  return { contiguous, max, count: head.count + 1 };
}
