/**
 * The electorate of a proposal, fixed at its creation from replicated data only: an explicit list
 * of agents, or the agents whose card — as the `_registry` deltas signed before the proposal's
 * `ts` leave it — lists the skill and/or tag; weighted equally, or by `1 + ⌊log2(1 + n)⌋` for the
 * n deltas each signed in a channel before the proposal's `ts`. Region-local data (reputation,
 * arrival times, liveness) never enters it, so equal delta sets give equal electorates.
 *
 * Each instance follows the channels it needs incrementally (`StoreFollower`), so a tally after
 * new arrivals reads only those.
 */
import { StoreFollower } from "../guard/channel_follower.ts";
import { parseAgentCard, REGISTRY_CHANNEL, tagTerm } from "../protocol/agent_card.ts";
import type { Op } from "../protocol/delta.ts";
import type { Eligibility, Proposal } from "../protocol/proposal.ts";
import { compareStamps, type Stamp } from "../crdt/stamp.ts";
import type { RegionStore } from "../store/region_store.ts";
import { activityWeight, type Electorate } from "./tally.ts";

/** Deltas read per store page while catching up. */
const PAGE = 1_000;

/** One version of an agent's card: its LWW stamp and the terms it can be found by (null: del). */
interface CardVersion {
  readonly stamp: Stamp;
  readonly terms: { readonly skills: readonly string[]; readonly tags: readonly string[] } | null;
}

/**
 * Every version of every card in `_registry`, per author, so the card as of any time can be read
 * back: the LWW winner among the author's deltas signed before that time.
 */
export class RegistryHistory {
  readonly #versions = new Map<string, CardVersion[]>();
  readonly #follower: StoreFollower;
  #version = 0;

  constructor(store: RegionStore) {
    this.#follower = new StoreFollower(0, async (cursor) => {
      const page = await store.listArrivals(REGISTRY_CHANNEL, cursor, PAGE);
      for (const record of page.deltas) this.#note(record.id, record.body);
      if (page.deltas.length > 0) this.#version++;
      return page;
    });
  }

  /** Rises whenever a card version is added. */
  get version(): number {
    return this.#version;
  }

  /** Catches up with everything stored before the call. */
  refresh(): Promise<void> {
    return this.#follower.refresh();
  }

  #note(id: string, body: string): void {
    const { author, seq, ts, lc, ops } = JSON.parse(body) as {
      author: string;
      seq: number;
      ts: number;
      lc: number;
      ops: Op[];
    };
    const op = ops[0];
    let terms: CardVersion["terms"] = null;
    if (op.op === "set") {
      const parsed = parseAgentCard(op.value);
      if (!parsed.ok) return; // ingest checked it: only a corrupt store gets here
      const skills = parsed.card.skills.map((s) => s.id);
      const tags = [...new Set(parsed.card.skills.flatMap((s) => s.tags.map(tagTerm)))];
      terms = { skills, tags };
    }
    const list = this.#versions.get(author) ?? [];
    if (list.length === 0) this.#versions.set(author, list);
    list.push({ stamp: { ts, lc, author, seq, op: 0, id }, terms });
  }

  /** The agents whose card as of `ts` (deltas signed strictly before it) matches the query. */
  matching(query: Exclude<Eligibility, { agents: readonly string[] }>, ts: number): string[] {
    const skill = "skill" in query ? query.skill : undefined;
    const tag = query.tag === undefined ? undefined : tagTerm(query.tag);
    const out: string[] = [];
    for (const [author, versions] of this.#versions) {
      let card: CardVersion | undefined;
      for (const v of versions) {
        if (v.stamp.ts < ts && (card === undefined || compareStamps(v.stamp, card.stamp) > 0)) {
          card = v;
        }
      }
      const terms = card?.terms;
      if (terms === undefined || terms === null) continue;
      if (skill !== undefined && !terms.skills.includes(skill)) continue;
      if (tag !== undefined && !terms.tags.includes(tag)) continue;
      out.push(author);
    }
    return out;
  }
}

/** Per author, how many deltas of one channel were signed strictly before a time. */
export class ActivityCounts {
  readonly #counts = new Map<string, number>();
  readonly #follower: StoreFollower;
  #version = 0;

  constructor(store: RegionStore, channel: string, beforeTs: number) {
    this.#follower = new StoreFollower(0, async (cursor) => {
      const page = await store.listArrivals(channel, cursor, PAGE);
      for (const record of page.deltas) {
        const { ts } = JSON.parse(record.body) as { ts: number };
        if (ts >= beforeTs) continue;
        this.#counts.set(record.author, (this.#counts.get(record.author) ?? 0) + 1);
      }
      if (page.deltas.length > 0) this.#version++;
      return page;
    });
  }

  get version(): number {
    return this.#version;
  }

  refresh(): Promise<void> {
    return this.#follower.refresh();
  }

  /** The author's count. */
  of(author: string): number {
    return this.#counts.get(author) ?? 0;
  }
}

/** An electorate from its eligible agents and a weight per agent. */
export function electorateOf(
  agents: readonly string[],
  weight: (agent: string) => number,
): Electorate {
  const weights = new Map<string, number>();
  let total = 0;
  for (const agent of agents) {
    const w = weight(agent);
    weights.set(agent, w);
    total += w;
  }
  return { weightOf: (voter) => weights.get(voter) ?? 0, total, size: weights.size };
}

/**
 * Builds and caches the electorate of proposals in one instance: the registry history is shared
 * by every proposal that queries the registry; activity counts are per proposal (their cut-off
 * is its `ts`). An electorate is rebuilt only when what it is built from has grown.
 */
export class Electorates {
  readonly #store: RegionStore;
  #registry: RegistryHistory | null = null;
  readonly #activity = new Map<string, ActivityCounts>();
  readonly #cache = new Map<string, { key: string; electorate: Electorate }>();

  constructor(store: RegionStore) {
    this.#store = store;
  }

  /** The electorate of `proposal`, caught up with everything stored before the call. */
  async of(proposal: Proposal): Promise<Electorate> {
    const registry = "agents" in proposal.eligible ? null : await this.#registryHistory();
    const activity = await this.#activityOf(proposal);
    const key = `${registry?.version ?? -1}/${activity?.version ?? -1}`;
    const cached = this.#cache.get(proposal.id);
    if (cached !== undefined && cached.key === key) return cached.electorate;
    const eligible = proposal.eligible;
    const agents = "agents" in eligible
      ? eligible.agents
      : registry!.matching(eligible, proposal.ts);
    const electorate = electorateOf(
      agents,
      activity === null ? () => 1 : (agent) => activityWeight(activity.of(agent)),
    );
    this.#cache.set(proposal.id, { key, electorate });
    return electorate;
  }

  /** Forgets what was built for a proposal no longer followed. */
  forget(proposalId: string): void {
    this.#cache.delete(proposalId);
    this.#activity.delete(proposalId);
  }

  async #registryHistory(): Promise<RegistryHistory> {
    this.#registry ??= new RegistryHistory(this.#store);
    await this.#registry.refresh();
    return this.#registry;
  }

  async #activityOf(proposal: Proposal): Promise<ActivityCounts | null> {
    if (proposal.weights === "equal") return null;
    let counts = this.#activity.get(proposal.id);
    if (counts === undefined) {
      counts = new ActivityCounts(this.#store, proposal.weights.activity, proposal.ts);
      this.#activity.set(proposal.id, counts);
    }
    await counts.refresh();
    return counts;
  }
}
