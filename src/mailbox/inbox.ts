/**
 * Reading a mailbox (docs/protocol.md §23.3): the direct messages of `_inbox:<owner>` that have
 * neither expired nor been acknowledged by the owner, in this region's arrival order. The owner's
 * acknowledgements are deltas in the same channel (`add {set: "acked", elem: <id>}`), so they
 * replicate like the messages and a message acknowledged in one region is gone from every other.
 * The scan starts at the mailbox's low-water mark: below it every message has expired or been
 * acknowledged, and every acknowledgement is older than any message it could name.
 */
import {
  ACK_SET,
  CLOCK_SKEW_FUTURE_MS_MAX,
  inboxChannel,
  MESSAGE_TTL_MS_MAX,
  type MessageBody,
} from "../protocol/mod.ts";
import type { DeltaBody } from "../protocol/delta.ts";
import {
  DeadPrefix,
  moveLowWater,
  readLowWater,
  retainedArrivals,
} from "../region/retained_scan.ts";
import type { ArrivedDelta, RegionStore } from "../store/region_store.ts";

/** Most messages one inbox read answers (`limit` at most). */
export const INBOX_LIMIT_MAX = 256;
/** Default `limit` of an inbox read. */
export const INBOX_LIMIT_DEFAULT = 100;

/** A direct message as its recipient reads it: the sealed payload and the signed envelope. */
export interface InboxMessage {
  readonly id: string;
  readonly from: string;
  readonly seq: number;
  readonly ts: number;
  readonly expires: number;
  readonly enc: string;
  readonly ct: string;
  /** This region's arrival number of the message: read on with `after`. */
  readonly arrival: number;
  readonly envelope: { readonly body: string; readonly sig: string };
}

export interface InboxPage {
  readonly messages: InboxMessage[];
  /** The arrival number to read after next time (the last message's, or `after`). */
  readonly cursor: number;
  readonly more: boolean;
}

type Parsed =
  | { readonly kind: "message"; readonly message: InboxMessage }
  | { readonly kind: "ack"; readonly ts: number; readonly ids: string[] }
  | { readonly kind: "other" };

function parse(delta: ArrivedDelta, owner: string): Parsed {
  let body: MessageBody | DeltaBody;
  try {
    body = JSON.parse(delta.body);
  } catch {
    return { kind: "other" };
  }
  if ("to" in body) {
    const { author, seq, ts, ttl, enc, ct } = body;
    const envelope = { body: delta.body, sig: delta.sig };
    const message = {
      id: delta.id,
      from: author,
      seq,
      ts,
      expires: ts + ttl,
      enc,
      ct,
      arrival: delta.arrival,
      envelope,
    };
    return { kind: "message", message };
  }
  if (body.author !== owner) return { kind: "other" };
  const ids = body.ops.flatMap((op) => op.op === "add" && op.set === ACK_SET ? [op.elem] : []);
  return { kind: "ack", ts: body.ts, ids };
}

/**
 * Up to `limit` unexpired, unacknowledged messages of `owner`'s mailbox with arrival above
 * `after`, at `nowMs`, leaving out those of `excluded` authors (quarantined). Reads the whole retained mailbox (acknowledgements may come after the
 * messages they name), then moves the low-water mark over the dead prefix.
 */
export async function readInbox(
  store: RegionStore,
  owner: string,
  after: number,
  limit: number,
  nowMs: number,
  excluded: ReadonlySet<string> = new Set(),
): Promise<InboxPage> {
  const channel = inboxChannel(owner);
  const low = await readLowWater(store, channel);
  const acked = new Set<string>();
  const read: { arrival: number; parsed: Parsed }[] = [];
  for await (const delta of retainedArrivals(store, channel, low.arrival)) {
    const parsed = parse(delta, owner);
    if (parsed.kind === "ack") { for (const id of parsed.ids) acked.add(id); }
    read.push({ arrival: delta.arrival, parsed });
  }
  // An acknowledgement outlives every message it can name by then (their ts are not later).
  const ackUseless = nowMs - MESSAGE_TTL_MS_MAX - CLOCK_SKEW_FUTURE_MS_MAX;
  const dead = new DeadPrefix(low.arrival);
  const live: InboxMessage[] = [];
  for (const { arrival, parsed } of read) {
    if (parsed.kind === "message") {
      const gone = parsed.message.expires <= nowMs || acked.has(parsed.message.id);
      dead.note(arrival, gone);
      const shown = !excluded.has(parsed.message.from) && arrival > after;
      if (!gone && shown) live.push(parsed.message);
    } else dead.note(arrival, parsed.kind === "other" || parsed.ts < ackUseless);
  }
  await moveLowWater(store, channel, low, dead.upTo);
  const messages = live.slice(0, limit);
  return { messages, cursor: messages.at(-1)?.arrival ?? after, more: live.length > limit };
}
