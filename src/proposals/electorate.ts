/**
 * The electorate of a proposal, fixed at its creation from replicated data only: an explicit list
 * of agents, or the agents whose card — as the `_registry` deltas signed before the proposal's
 * `ts` leave it — lists the skill and/or tag; weighted equally, or by `1 + ⌊log2(1 + n)⌋` for the
 * n deltas each signed in a channel before the proposal's `ts`. Region-local data (reputation,
 * arrival times, liveness) never enters it, so equal delta sets give equal electorates.
 *
 * Each instance follows the channels it needs incrementally (`StoreFollower`): one registry
 * history, and one activity index per channel shared by every proposal that weighs by it (kept
 * when a proposal is evicted). A proposal's electorate is built once and then kept up to date:
 * a read after new arrivals looks again only at the agents whose cards or activity changed, so
 * what a read costs does not grow with the registry or the channel (a public GET must not walk
 * them).
 */
import { allSettledOrThrow, StoreFollower } from "../guard/channel_follower.ts";
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
  /** The author of each version noted, in the order noted. */
  readonly #changes: string[] = [];
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
    this.#changes.push(author);
  }

  /** How many versions were noted so far: pass it to `changedSince` later. */
  get mark(): number {
    return this.#changes.length;
  }

  /** The authors with versions noted since `mark`. */
  changedSince(mark: number): Set<string> {
    return new Set(this.#changes.slice(mark));
  }

  /** The agents whose card as of `ts` (deltas signed strictly before it) matches the query. */
  matching(query: RegistryQuery, ts: number): string[] {
    const out: string[] = [];
    for (const author of this.#versions.keys()) {
      if (this.matches(author, query, ts)) out.push(author);
    }
    return out;
  }

  /** Whether `author`'s card as of `ts` (deltas signed strictly before it) matches the query. */
  matches(author: string, query: RegistryQuery, ts: number): boolean {
    let card: CardVersion | undefined;
    for (const v of this.#versions.get(author) ?? []) {
      if (v.stamp.ts < ts && (card === undefined || compareStamps(v.stamp, card.stamp) > 0)) {
        card = v;
      }
    }
    const terms = card?.terms;
    if (terms === undefined || terms === null) return false;
    if ("skill" in query && !terms.skills.includes(query.skill)) return false;
    return query.tag === undefined || terms.tags.includes(tagTerm(query.tag));
  }
}

/** A registry query of an electorate: a skill and/or a tag. */
type RegistryQuery = Exclude<Eligibility, { agents: readonly string[] }>;

/**
 * Per author, the `ts` of each of its deltas in one channel, sorted: how many it signed before
 * any time, for every proposal that weighs by the channel.
 */
export class ActivityIndex {
  readonly #times = new Map<string, number[]>();
  /** Authors whose times are out of order (a delta arrived after a later-signed one). */
  readonly #unsorted = new Set<string>();
  /** The author of each delta noted, in the order noted. */
  readonly #changes: string[] = [];
  readonly #follower: StoreFollower;

  constructor(store: RegionStore, channel: string) {
    this.#follower = new StoreFollower(0, async (cursor) => {
      const page = await store.listArrivals(channel, cursor, PAGE);
      for (const record of page.deltas) {
        const { ts } = JSON.parse(record.body) as { ts: number };
        const times = this.#times.get(record.author) ?? [];
        if (times.length === 0) this.#times.set(record.author, times);
        // Mostly in order (arrivals follow time); sorted when next counted if not.
        if (times.length > 0 && ts < times[times.length - 1]) this.#unsorted.add(record.author);
        times.push(ts);
        this.#changes.push(record.author);
      }
      return page;
    });
  }

  /** Catches up with everything stored before the call. */
  refresh(): Promise<void> {
    return this.#follower.refresh();
  }

  /** How many deltas were noted so far: pass it to `changedSince` later. */
  get mark(): number {
    return this.#changes.length;
  }

  /** The authors with deltas noted since `mark`. */
  changedSince(mark: number): Set<string> {
    return new Set(this.#changes.slice(mark));
  }

  /** How many deltas `author` signed in the channel with `ts` strictly before `beforeTs`. */
  countBefore(author: string, beforeTs: number): number {
    const times = this.#times.get(author) ?? [];
    if (this.#unsorted.delete(author)) times.sort((a, b) => a - b);
    return below(times, beforeTs);
  }
}

/** How many of the sorted `times` are below `ts` (binary search). */
function below(times: readonly number[], ts: number): number {
  let lo = 0, hi = times.length;
  while (lo < hi) {
    const mid = (lo + hi) >>> 1;
    if (times[mid] < ts) lo = mid + 1;
    else hi = mid;
  }
  return lo;
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

/** Activity indexes one instance keeps at most (one per channel); the least recently used go. */
export const ACTIVITY_CHANNELS_MAX = 64;
/**
 * Deltas the activity indexes of one instance hold at most between them (a number each, ~8
 * bytes): past it, the least recently used indexes other than the one just read go.
 */
export const ACTIVITY_DELTAS_HELD_MAX = 4_000_000;

/** A proposal's electorate as built, with what it was built from (to bring it up to date). */
interface Built {
  readonly registry: RegistryHistory | null;
  readonly activity: ActivityIndex | null;
  registryMark: number;
  activityMark: number;
  readonly weights: Map<string, number>;
  total: number;
  readonly electorate: Electorate;
}

/**
 * Builds and keeps the electorate of proposals in one instance: the registry history is shared
 * by every proposal that queries the registry, an activity index by every proposal that weighs
 * by its channel. A proposal's electorate is built once, then brought up to date by looking
 * again only at the agents whose cards or activity changed since.
 */
export class Electorates {
  readonly #store: RegionStore;
  #registry: RegistryHistory | null = null;
  /** Per channel, its activity index; the map's order is recency. */
  readonly #activity = new Map<string, ActivityIndex>();
  readonly #built = new Map<string, Built>();

  constructor(store: RegionStore) {
    this.#store = store;
  }

  /** The electorate of `proposal`, caught up with everything stored before the call. */
  async of(proposal: Proposal): Promise<Electorate> {
    const eligible = proposal.eligible;
    // Both settle before the answer, even when one fails (allSettledOrThrow).
    const [registry, activity] = await allSettledOrThrow([
      "agents" in eligible ? null : this.#registryHistory(),
      proposal.weights === "equal" ? null : this.#activityIndex(proposal.weights.activity),
    ]);
    // From here on, synchronous: a concurrent call never sees half an update.
    const weight = activity === null
      ? () => 1
      : (agent: string) => activityWeight(activity.countBefore(agent, proposal.ts));
    const listed = "agents" in eligible ? eligible.agents : null;
    const built = this.#built.get(proposal.id);
    if (built === undefined || built.registry !== registry || built.activity !== activity) {
      const agents = listed ?? registry!.matching(eligible as RegistryQuery, proposal.ts);
      const fresh = buildOf(agents, weight, registry, activity);
      this.#built.set(proposal.id, fresh);
      return fresh.electorate;
    }
    const changed = new Set<string>();
    if (registry !== null) {
      for (const a of registry.changedSince(built.registryMark)) changed.add(a);
    }
    if (activity !== null) {
      for (const a of activity.changedSince(built.activityMark)) changed.add(a);
    }
    built.registryMark = registry?.mark ?? 0;
    built.activityMark = activity?.mark ?? 0;
    for (const agent of changed) {
      const member = listed !== null
        ? listed.includes(agent)
        : registry!.matches(agent, eligible as RegistryQuery, proposal.ts);
      const next = member ? weight(agent) : 0;
      const previous = built.weights.get(agent) ?? 0;
      if (next === previous) continue;
      if (next === 0) built.weights.delete(agent);
      else built.weights.set(agent, next);
      built.total += next - previous;
    }
    return built.electorate;
  }

  /** Forgets what was built for a proposal no longer followed (the shared indexes stay). */
  forget(proposalId: string): void {
    this.#built.delete(proposalId);
  }

  async #registryHistory(): Promise<RegistryHistory> {
    this.#registry ??= new RegistryHistory(this.#store);
    await this.#registry.refresh();
    return this.#registry;
  }

  async #activityIndex(channel: string): Promise<ActivityIndex> {
    let index = this.#activity.get(channel);
    if (index !== undefined) {
      this.#activity.delete(channel); // re-inserted last: the map's order is recency
    } else {
      index = new ActivityIndex(this.#store, channel);
      if (this.#activity.size >= ACTIVITY_CHANNELS_MAX) {
        this.#activity.delete(this.#activity.keys().next().value!);
      }
    }
    this.#activity.set(channel, index);
    await index.refresh();
    let held = 0;
    for (const other of this.#activity.values()) held += other.mark;
    for (const [name, other] of this.#activity) {
      if (held <= ACTIVITY_DELTAS_HELD_MAX) break;
      if (other === index) continue;
      this.#activity.delete(name);
      held -= other.mark;
    }
    return index;
  }
}

/** A proposal's electorate built from scratch, with the marks of what it was built from. */
function buildOf(
  agents: readonly string[],
  weight: (agent: string) => number,
  registry: RegistryHistory | null,
  activity: ActivityIndex | null,
): Built {
  const weights = new Map<string, number>();
  let total = 0;
  for (const agent of agents) {
    const w = weight(agent);
    weights.set(agent, w);
    total += w;
  }
  const built: Built = {
    registry,
    activity,
    registryMark: registry?.mark ?? 0,
    activityMark: activity?.mark ?? 0,
    weights,
    total,
    electorate: {
      weightOf: (voter) => weights.get(voter) ?? 0,
      get total() {
        return built.total;
      },
      get size() {
        return weights.size;
      },
    },
  };
  return built;
}
