/**
 * The end-of-run checks: every region holds the same set (same count and the same real set
 * fingerprint, the `IdTrie` root's), no forged delta is stored anywhere, every region quarantines
 * exactly the equivocators, and the views of the checked channels — folded by the real
 * `FilteredChannelState` in each region's own arrival order, leaving the quarantined authors out —
 * are byte-identical everywhere and hold every delta of every honest author.
 */
import { FilteredChannelState } from "../../src/crdt/filtered_channel_state.ts";
import type { FoldedDelta } from "../../src/crdt/channel_state.ts";
import { encodeBase64Url } from "../../src/protocol/base64url.ts";
import { channelCount } from "./write_plan.ts";
import type { World } from "./world.ts";

export interface Checks {
  /** Every region holds every delta any region stored, with equal fingerprints. */
  readonly setsEqual: boolean;
  readonly fingerprint: string;
  readonly deltasPerRegion: number;
  readonly forgedStored: number;
  /** Every region quarantines exactly the equivocators. */
  readonly quarantineEqual: boolean;
  readonly quarantined: number;
  readonly equivocators: number;
  /** The checked channels' views are byte-identical everywhere and complete. */
  readonly viewsEqual: boolean;
  readonly viewChannels: readonly string[];
  readonly viewDeltas: number;
  readonly problems: readonly string[];
}

const ROOT = new Uint8Array(0);

export function checkConvergence(world: World): Checks {
  const problems: string[] = [];
  const { regions, pool, metrics } = world;
  const fingerprints = regions.map((r) => encodeBase64Url(r.trie.fingerprint(ROOT)));
  const sizes = regions.map((r) => r.trie.size);
  const setsEqual = metrics.allConverged && new Set(fingerprints).size === 1 &&
    sizes.every((s) => s === metrics.stored);
  if (!setsEqual) problems.push(`sets differ: sizes ${sizes.join()} of ${metrics.stored} stored`);
  let forgedStored = 0;
  for (let d = 0; d < pool.count; d++) {
    if (pool.plan.signer[d] !== pool.plan.author[d] && metrics.holders[d] > 0) forgedStored++;
  }
  if (forgedStored > 0) problems.push(`${forgedStored} forged deltas stored`);
  const expected = [...pool.plan.equivocators].sort((a, b) => a - b).join();
  const quarantines = regions.map((r) => [...r.quarantine].sort((a, b) => a - b).join());
  const quarantineEqual = quarantines.every((q) => q === expected);
  if (!quarantineEqual) problems.push(`quarantines ${quarantines.join(" | ")} ≠ ${expected}`);
  const views = checkViews(world, problems);
  return {
    setsEqual,
    fingerprint: fingerprints[0],
    deltasPerRegion: sizes[0],
    forgedStored,
    quarantineEqual,
    quarantined: regions[0].quarantine.size,
    equivocators: pool.plan.equivocators.length,
    ...views,
    problems,
  };
}

/** room-0 (where the Byzantine agents write) and up to `viewChannels - 1` others, spread out. */
function viewChannelsOf(world: World): number[] {
  const channels = channelCount(world.options.agents);
  const wanted = Math.min(channels, Math.max(1, world.options.viewChannels));
  return Array.from({ length: wanted }, (_, i) => Math.floor((i * channels) / wanted));
}

function checkViews(world: World, problems: string[]) {
  const { regions, pool } = world;
  const channels = viewChannelsOf(world);
  const names = channels.map((c) => pool.channelNames[c]);
  const wanted = new Set(channels);
  const folded = new Map<number, FoldedDelta>();
  for (let d = 0; d < pool.count; d++) {
    if (!wanted.has(pool.plan.channel[d]) || world.metrics.holders[d] === 0) continue;
    const body = JSON.parse(pool.body[d]);
    folded.set(d, { ...body, id: encodeBase64Url(pool.id(d)) });
  }
  const excluded = new Set<string>();
  for (const d of folded.keys()) {
    if (regions[0].quarantine.has(pool.plan.author[d])) excluded.add(folded.get(d)!.author);
  }
  let viewsEqual = true, viewDeltas = 0;
  for (const [k, channel] of names.entries()) {
    const texts = regions.map((r) => {
      const state = new FilteredChannelState(channel);
      state.exclude(excluded);
      for (let i = 0; i < r.logLength; i++) {
        const delta = folded.get(r.log[i]);
        if (delta !== undefined && delta.channel === channel) state.apply(delta);
      }
      return { text: state.state.viewText(), size: state.size };
    });
    const honest = [...folded.values()].filter((f) =>
      f.channel === channel && !excluded.has(f.author)
    ).length;
    viewDeltas += honest;
    const same = texts.every((t) => t.text === texts[0].text && t.size === honest);
    if (!same) {
      viewsEqual = false;
      problems.push(`views of ${channel} (#${channels[k]}) differ or miss deltas`);
    }
  }
  return { viewsEqual, viewChannels: names, viewDeltas };
}
