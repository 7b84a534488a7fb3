/**
 * Outcome announcements (docs/protocol.md §24.7): once a proposal is decided in this region, the
 * region publishes a topic message on `mesh.proposals`, signed with its own region key, saying
 * which outcome and tally it decided. Each region attests for itself, so a subscriber sees one
 * announcement per region and can compare them (and check each author against the topology's
 * region keys). Proposers announce their proposals on the same topic from the SDK.
 *
 * The region's seq on the topic is claimed by compare-and-set in the store, so instances never sign two
 * bodies with one seq (which would be an equivocation by the region key), and a store that lost
 * its seq starts again from the region clock, above what the key signed before; a mark in the store
 * index keeps a proposal from being announced twice by the instances of a region (a race may
 * still announce twice: same content, two seqs, harmless). A proposal whose tally is private to
 * a members-only channel (`tally_access.ts`) is not announced: the topic is read by anyone.
 */
import type { AgentKey } from "../crypto/agent_key.ts";
import { encodeBase64Url } from "../protocol/base64url.ts";
import { signedMessage } from "../protocol/delta.ts";
import { TOPIC_TTL_MS_MAX, topicChannel } from "../protocol/message_kinds.ts";
import { utf8Encode } from "../protocol/utf8.ts";
import type { RegionStore } from "../store/region_store.ts";
import type { AdmissionPolicy } from "../guard/admission.ts";
import type { ProposalBook } from "./book.ts";
import { tallyPrivateTo } from "./tally_access.ts";

/** The topic proposals and outcomes are announced on. */
export const ANNOUNCE_TOPIC = "mesh.proposals";
/** Only proposals decided at most this long ago are announced (a new region does not replay). */
export const ANNOUNCE_WINDOW_MS = 3_600_000;
/** Most announcements one tick makes. */
export const ANNOUNCE_PER_TICK_MAX = 64;
/**
 * Seqs per ms of the region clock when a store starts the region key's seqs afresh (µs: the
 * clock times this stays below 2^53 until the year 2255).
 */
const SEQ_PER_MS = 1_000;

export interface AnnouncerOptions {
  readonly book: ProposalBook;
  readonly store: RegionStore;
  readonly region: string;
  /** The region's key (its topology entry's public key). */
  readonly key: AgentKey;
  /** Stores a signed envelope as an agent push would (ingest, then fan-out and topic delivery). */
  readonly publish: (envelope: { body: string; sig: string }) => Promise<string>;
  readonly now?: () => number;
  /**
   * The mesh's admission policy: proposals weighted by activity in a members-only channel are
   * not announced. Default: none (every channel public).
   */
  readonly admission?: AdmissionPolicy;
}

export class ProposalAnnouncer {
  readonly #o: AnnouncerOptions;
  readonly #now: () => number;

  constructor(options: AnnouncerOptions) {
    this.#o = options;
    this.#now = options.now ?? Date.now;
  }

  /** Announces what was decided and not yet announced; returns how many it announced. */
  async tick(): Promise<number> {
    const { book, store } = this.#o;
    const now = this.#now();
    const decided = (await book.list()).filter(({ proposal, state }) =>
      state === "decided" && now - (proposal.deadline + proposal.grace) <= ANNOUNCE_WINDOW_MS &&
      tallyPrivateTo(proposal, this.#o.admission) === null
    ).slice(0, ANNOUNCE_PER_TICK_MAX * 4);
    if (decided.length === 0) return 0;
    const marks = await store.readIndex(decided.map(({ proposal }) => markKey(proposal.id)));
    let announced = 0;
    for (const [i, { proposal }] of decided.entries()) {
      if (marks[i] !== null || announced >= ANNOUNCE_PER_TICK_MAX) continue;
      const report = await book.report(proposal.id);
      if (report === null || report.tally.state !== "decided") continue;
      const claimed = await store.writeIndex({
        expect: [{ key: markKey(proposal.id), value: null }],
        set: [{ key: markKey(proposal.id), value: String(now) }],
      });
      if (!claimed) continue; // another instance announces it
      const { tally } = report;
      const status = await this.#publish(
        await this.#sign({
          event: "outcome",
          region: this.#o.region,
          proposal: proposal.id,
          title: proposal.title,
          outcome: tally.outcome,
          options: tally.options,
          needed: tally.needed,
          eligible: tally.eligible,
        }),
      );
      if (status === "accepted" || status === "duplicate") announced++;
      else await this.#release(proposal.id, now); // not published: a later tick tries again
    }
    return announced;
  }

  /** The region's answer to the publish, or `failed` when it did not answer. */
  async #publish(envelope: { body: string; sig: string }): Promise<string> {
    try {
      return await this.#o.publish(envelope);
    } catch {
      return "failed";
    }
  }

  /** Takes back this instance's mark of `id`, so the announcement is tried again. */
  async #release(id: string, markedAt: number): Promise<void> {
    await this.#o.store.writeIndex({
      expect: [{ key: markKey(id), value: String(markedAt) }],
      delete: [markKey(id)],
    }).catch(() => false);
  }

  async #sign(data: Record<string, unknown>): Promise<{ body: string; sig: string }> {
    const { key, store } = this.#o;
    const ts = this.#now();
    const seq = await claimSeq(store, key.id, ts);
    const body = JSON.stringify({
      v: 1,
      author: key.id,
      seq,
      topic: ANNOUNCE_TOPIC,
      ts,
      lc: 0,
      ttl: TOPIC_TTL_MS_MAX,
      data,
    });
    const sig = encodeBase64Url(key.sign(signedMessage(utf8Encode(body), "topic")));
    return { body, sig };
  }
}

function markKey(id: string): readonly string[] {
  return ["proposals", "announced", id];
}

/**
 * The region key's next seq on the topic, claimed by compare-and-set in the store index, and
 * above every seq of the key the region stores there. A store without the index entry (a new
 * region, or one whose store was lost and may not yet hold what its key signed before) starts
 * at the region clock in µs: above every seq the key signed earlier, whatever the store holds,
 * so a wiped store never makes the region key sign a taken seq again (an equivocation, §18).
 * Seqs may have gaps (§8.1); after that first claim they go on one by one.
 */
async function claimSeq(store: RegionStore, author: string, nowMs: number): Promise<number> {
  const key = ["proposals", "seq", topicChannel(ANNOUNCE_TOPIC)];
  for (;;) {
    const [[text], head] = await Promise.all([
      store.readIndex([key]),
      store.getHead(topicChannel(ANNOUNCE_TOPIC), author),
    ]);
    const floor = text === null ? Math.floor(nowMs) * SEQ_PER_MS : 0;
    const seq = Math.max(text === null ? 0 : Number(text), head?.max ?? 0, floor) + 1;
    const set = [{ key, value: String(seq) }];
    if (await store.writeIndex({ expect: [{ key, value: text }], set })) return seq;
  }
}
