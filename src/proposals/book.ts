/**
 * The proposals of a region as one instance sees them: it follows `_proposals` and, for each
 * proposal read, its `_votes:` channel, incrementally (only new arrivals are read), and answers
 * tallies from the pure fold in `tally.ts`. Everything here is derived from the region's delta
 * set, so instances and regions with equal sets answer alike; a restart only re-reads.
 */
import { allSettledOrThrow, StoreFollower } from "../guard/channel_follower.ts";
import { quarantineOf } from "../guard/quarantine.ts";
import type { Op } from "../protocol/delta.ts";
import {
  type Ballot,
  type Proposal,
  proposalOf,
  PROPOSALS_CHANNEL,
  votesChannel,
} from "../protocol/proposal.ts";
import type { RegionStore } from "../store/region_store.ts";
import { Electorates } from "./electorate.ts";
import {
  type BallotRecord,
  type BallotStatus,
  ballotStatus,
  type Electorate,
  type ProposalState,
  stateAt,
  supersedes,
  type Tally,
  tally,
} from "./tally.ts";

/** Deltas read per store page while catching up. */
const PAGE = 1_000;
/** Most proposals whose ballots one instance keeps folded; the least recently read go first. */
export const FOLLOWED_PROPOSALS_MAX = 256;

/** Each voter's ballot that counts, kept up to date from the proposal's `_votes:` channel. */
class BallotBox {
  readonly ballots = new Map<string, BallotRecord>();
  /** Voters with ballots, none in time (signed after the deadline, or not for this proposal). */
  readonly late = new Set<string>();
  readonly follower: StoreFollower;
  #sorted: string[] | null = null;

  constructor(store: RegionStore, proposal: Proposal) {
    const channel = votesChannel(proposal.id);
    this.follower = new StoreFollower(0, async (cursor) => {
      const page = await store.listArrivals(channel, cursor, PAGE);
      for (const record of page.deltas) this.#note(proposal, record.id, record.body);
      return page;
    });
  }

  #note(proposal: Proposal, id: string, body: string): void {
    const { author, seq, ts, ops } = JSON.parse(body) as {
      author: string;
      seq: number;
      ts: number;
      ops: Op[];
    };
    const ballot = (ops[0] as { value: unknown }).value as Ballot;
    const record: BallotRecord = { voter: author, id, seq, ts, ...ballot };
    const current = this.ballots.get(author);
    if (supersedes(proposal, record, current)) {
      if (current === undefined) this.#sorted = null;
      this.ballots.set(author, record);
      this.late.delete(author);
    } else if (current === undefined) this.late.add(author);
  }

  /** Voters with a ballot in time, sorted (UTF-16 order). */
  sortedVoters(): readonly string[] {
    this.#sorted ??= [...this.ballots.keys()].sort();
    return this.#sorted;
  }
}

/** One listed ballot: the record plus whether (and with what weight) it counts. */
export interface BallotLine extends BallotRecord {
  readonly weight: number;
  readonly status: BallotStatus;
}

export interface ProposalReport {
  readonly proposal: Proposal;
  readonly tally: Tally;
  /** The ballots of one page, by voter id. */
  readonly votes: readonly BallotLine[];
  /** The voter id to pass as `votes_after` for the next page, or null at the end. */
  readonly votesNext: string | null;
  /** Voters whose ballots all came too late (signed after the deadline): listed, not counted. */
  readonly late: number;
}

export interface ProposalBookOptions {
  readonly store: RegionStore;
  readonly now?: () => number;
  /**
   * Whether this region is in touch with every peer region (no partition suspected). While it
   * is not, a proposal past its close stays `closing`: a region cut off from ballots another
   * region holds does not decide. Default: always.
   */
  readonly settled?: () => boolean;
}

export class ProposalBook {
  readonly #store: RegionStore;
  readonly #now: () => number;
  readonly #settled: () => boolean;
  readonly #proposals = new Map<string, Proposal>();
  readonly #follower: StoreFollower;
  readonly #boxes = new Map<string, BallotBox>();
  readonly electorates: Electorates;

  constructor(options: ProposalBookOptions) {
    this.#store = options.store;
    this.#now = options.now ?? Date.now;
    this.#settled = options.settled ?? (() => true);
    this.electorates = new Electorates(options.store);
    this.#follower = new StoreFollower(0, async (cursor) => {
      const page = await this.#store.listArrivals(PROPOSALS_CHANNEL, cursor, PAGE);
      for (const record of page.deltas) {
        const proposal = proposalOf(record);
        if (proposal !== null) this.#proposals.set(proposal.id, proposal);
      }
      return page;
    });
  }

  /** The proposal `id` if this region holds it (caught up with everything stored before). */
  async proposal(id: string): Promise<Proposal | null> {
    await this.#follower.refresh();
    return this.#proposals.get(id) ?? null;
  }

  /** Every proposal this region holds with its state now, newest deadline first. */
  async list(): Promise<{ proposal: Proposal; state: ProposalState }[]> {
    await this.#follower.refresh();
    const quarantined = await quarantineOf(this.#store).authors();
    const now = this.#now();
    return [...this.#proposals.values()]
      .map((proposal) => ({
        proposal,
        state: stateAt(proposal, quarantined, now, this.#settled()),
      }))
      .sort((a, b) =>
        b.proposal.deadline - a.proposal.deadline || (a.proposal.id < b.proposal.id ? -1 : 1)
      );
  }

  /** The tally of proposal `id` and one page of its ballots, or null when it is not held. */
  async report(
    id: string,
    page: { readonly after?: string; readonly limit: number } = { limit: 0 },
  ): Promise<ProposalReport | null> {
    const proposal = await this.proposal(id);
    if (proposal === null) return null;
    const box = this.#box(proposal);
    // All settle before the answer, even when one fails (allSettledOrThrow).
    const [, electorate, quarantined] = await allSettledOrThrow([
      box.follower.refresh(),
      this.electorates.of(proposal),
      quarantineOf(this.#store).authors(),
    ]);
    const now = this.#now();
    const result = tally(
      proposal,
      box.ballots.values(),
      electorate,
      quarantined,
      now,
      this.#settled(),
    );
    const { votes, next } = ballotPage(proposal, box, electorate, quarantined, page);
    return { proposal, tally: result, votes, votesNext: next, late: box.late.size };
  }

  #box(proposal: Proposal): BallotBox {
    let box = this.#boxes.get(proposal.id);
    if (box !== undefined) {
      this.#boxes.delete(proposal.id); // re-inserted last: the map's order is recency
    } else {
      box = new BallotBox(this.#store, proposal);
      if (this.#boxes.size >= FOLLOWED_PROPOSALS_MAX) {
        const oldest = this.#boxes.keys().next().value!;
        this.#boxes.delete(oldest);
        this.electorates.forget(oldest);
      }
    }
    this.#boxes.set(proposal.id, box);
    return box;
  }
}

function ballotPage(
  proposal: Proposal,
  box: BallotBox,
  electorate: Electorate,
  quarantined: ReadonlySet<string>,
  page: { readonly after?: string; readonly limit: number },
): { votes: BallotLine[]; next: string | null } {
  const voters = box.sortedVoters();
  let start = 0;
  if (page.after !== undefined) {
    // First voter after `after`: binary search in the sorted list.
    let lo = 0, hi = voters.length;
    while (lo < hi) {
      const mid = (lo + hi) >>> 1;
      if (voters[mid] <= page.after) lo = mid + 1;
      else hi = mid;
    }
    start = lo;
  }
  const slice = voters.slice(start, start + page.limit);
  const votes = slice.map((voter) => {
    const record = box.ballots.get(voter)!;
    const status = ballotStatus(proposal, record, electorate, quarantined);
    return { ...record, weight: electorate.weightOf(voter), status };
  });
  const more = start + slice.length < voters.length;
  return { votes, next: more && slice.length > 0 ? slice[slice.length - 1] : null };
}
