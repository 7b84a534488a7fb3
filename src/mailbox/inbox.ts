/**
 * Reading a mailbox (docs/protocol.md §23.3): the direct messages of `_inbox:<owner>` that have
 * neither expired nor been acknowledged by the owner, in this region's arrival order. The owner's
 * acknowledgements are deltas in the same channel (`add {set: "acked", elem: <id>}`), so they
 * replicate like the messages and a message acknowledged in one region is gone from every other.
 * What they acknowledge is read from the mailbox's acknowledgement index (`views/ack_index.ts`),
 * not from a scan, so a read stops after the messages it lists: its cost does not grow with what
 * strangers put in the mailbox. The scan starts at the mailbox's low-water mark: below it every
 * message has expired or been acknowledged.
 */
import {
  INBOX_LIMIT_DEFAULT,
  INBOX_LIMIT_MAX,
  inboxChannel,
  type InboxMessageJson,
  type MessageBody,
} from "../protocol/mod.ts";
import type { DeltaBody } from "../protocol/delta.ts";
import {
  DeadPrefix,
  moveLowWater,
  readLowWater,
  RETAINED_SCAN_PAGE,
} from "../region/retained_scan.ts";
import type { ArrivalPage, ArrivedDelta, RegionStore } from "../store/region_store.ts";
import { ackedKey, ensureAckIndex } from "../views/ack_index.ts";

export { INBOX_LIMIT_DEFAULT, INBOX_LIMIT_MAX };

/** A direct message as its recipient reads it, with this region's arrival number of it. */
export interface InboxMessage extends InboxMessageJson {
  /** This region's arrival number of the message: read on with `after`. */
  readonly arrival: number;
}

export interface InboxPage {
  readonly messages: InboxMessage[];
  /**
   * The arrival number to read after next time: the last message's, or `after` when none is
   * listed — or, when the read stopped at INBOX_SCAN_ARRIVALS_MAX, the last arrival it examined.
   */
  readonly cursor: number;
  readonly more: boolean;
  /** Arrivals the scan examined (at most INBOX_SCAN_ARRIVALS_MAX and one page). */
  readonly examined: number;
  /** Arrivals a sweep of the acknowledgement index read first (0 when it was complete). */
  readonly swept: number;
}

/**
 * Most arrivals one read examines (past the low-water mark and `after`). A read that meets this
 * many before finding `limit` + 1 listable messages answers what it found, `more`, and a cursor
 * at the last arrival it examined, so that a run of dead messages (expired, acknowledged, from a
 * quarantined sender) costs each read a bounded amount and the client pages on over it.
 */
export const INBOX_SCAN_ARRIVALS_MAX = 4 * RETAINED_SCAN_PAGE;

/** What a read makes of one arrival: a listable message, a dead one, or one left out but alive. */
type Verdict = "live" | "dead" | "excluded";

/** The message a stored direct message is, as its recipient reads it. */
function inboxMessage(stored: ArrivedDelta, body: MessageBody): InboxMessage {
  const { author, seq, ts, ttl, enc, ct } = body;
  const envelope = { body: stored.body, sig: stored.sig };
  const { id, arrival } = stored;
  return { id, from: author, seq, ts, expires: ts + ttl, enc, ct, arrival, envelope };
}

/** A stored direct message's body, or null for anything else in the mailbox. */
function messageBody(delta: ArrivedDelta): MessageBody | null {
  try {
    const body = JSON.parse(delta.body) as MessageBody | DeltaBody;
    return "to" in body ? body : null;
  } catch {
    return null;
  }
}

/**
 * Up to `limit` unexpired, unacknowledged messages of `owner`'s mailbox with arrival above
 * `after`, at `nowMs`, leaving out those of `excluded` authors (quarantined). Acknowledged ids
 * come from the mailbox's acknowledgement index (`views/ack_index.ts`), made complete first, so
 * the scan stops at the `limit` + 1st listable message, or after INBOX_SCAN_ARRIVALS_MAX
 * arrivals; then the low-water mark moves over the dead run the scan read right above it.
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
  const [swept, low] = await Promise.all([
    ensureAckIndex(store, owner),
    readLowWater(store, channel),
  ]);
  const from = Math.max(low.arrival, after);
  const dead = new DeadPrefix(from);
  const messages: InboxMessage[] = [];
  let examined = 0, last = from, more = false, spent = false;
  scan: for await (const page of retainedPages(store, channel, from)) {
    const verdicts = await judge(store, owner, page.deltas, nowMs, excluded);
    for (const [i, delta] of page.deltas.entries()) {
      const { verdict, body } = verdicts[i];
      if (verdict === "live" && messages.length === limit) {
        more = true;
        break scan;
      }
      dead.note(delta.arrival, verdict === "dead");
      if (verdict === "live") messages.push(inboxMessage(delta, body!));
      last = delta.arrival;
      examined++;
    }
    if (examined >= INBOX_SCAN_ARRIVALS_MAX && page.more) {
      more = spent = true;
      break;
    }
  }
  // Only a scan that started at the mark knows the run above it.
  if (from === low.arrival) await moveLowWater(store, channel, low, dead.upTo);
  const cursor = spent ? last : messages.at(-1)?.arrival ?? after;
  return { messages, cursor, more, examined, swept };
}

/** The pages of `channel`'s arrivals after `from`, lazily. */
async function* retainedPages(
  store: RegionStore,
  channel: string,
  from: number,
): AsyncGenerator<ArrivalPage> {
  let after = from;
  for (;;) {
    const page = await store.listArrivals(channel, after, RETAINED_SCAN_PAGE);
    yield page;
    after = page.cursor;
    if (!page.more) return;
  }
}

/**
 * What each arrival of a page is to a read at `nowMs`: an owner's delta (acknowledgement) is
 * dead, its effect being in the index; a message is dead once expired or acknowledged, left out
 * while its sender is quarantined, else listable. One index read for the page's unexpired ids.
 */
async function judge(
  store: RegionStore,
  owner: string,
  page: readonly ArrivedDelta[],
  nowMs: number,
  excluded: ReadonlySet<string>,
): Promise<{ verdict: Verdict; body: MessageBody | null }[]> {
  const bodies = page.map(messageBody);
  const open = page.flatMap((d, i) => {
    const body = bodies[i];
    return body !== null && body.ts + body.ttl > nowMs ? [d.id] : [];
  });
  const acked = new Set<string>();
  if (open.length > 0) {
    const values = await store.readIndex(open.map((id) => ackedKey(owner, id)));
    values.forEach((v, i) => v !== null && acked.add(open[i]));
  }
  return page.map((d, i) => {
    const body = bodies[i];
    if (body === null || body.ts + body.ttl <= nowMs || acked.has(d.id)) {
      return { verdict: "dead", body };
    }
    return { verdict: excluded.has(body.author) ? "excluded" : "live", body };
  });
}
