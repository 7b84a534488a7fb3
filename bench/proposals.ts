/**
 * The tally of one proposal with N ballots (default 100,000) on the embedded Deno KV store: N
 * agents announce cards with skill `review` (the proposal's electorate, as of its creation), each
 * casts one ballot, and `GET /v1/proposals/{id}` is timed through the region app — cold (a fresh
 * app: the instance reads every card and ballot), warm (nothing new), and after 1,000 more
 * ballots (incremental). The baseline, in the same process and store: one plain scan of the
 * ballots' channel (read and JSON.parse every ballot), so the cold tally is reported as a ratio
 * to what merely reading its input costs.
 *
 *   deno run -A --v8-flags=--expose-gc bench/proposals.ts [--votes N] [--dir DIR]
 *
 * The deltas are written straight into the store (`putDeltas`) with placeholder signatures: the
 * tally never verifies (ingest did), and signing 2N deltas would only time ed25519. Figures:
 * docs/performance.md.
 */
import { meshRegionApp } from "../src/compose/mesh_region_app.ts";
import { REGISTRY_CHANNEL } from "../src/protocol/agent_card.ts";
import { deltaId } from "../src/protocol/delta.ts";
import { proposalKey, PROPOSALS_CHANNEL, votesChannel } from "../src/protocol/proposal.ts";
import { utf8Encode } from "../src/protocol/utf8.ts";
import { DenoKvStore } from "../src/store/deno_kv_store.ts";
import type { StoredDelta } from "../src/store/region_store.ts";
import { card } from "../test/registry/_cards.ts";

function option(name: string, fallback: string): string {
  const i = Deno.args.indexOf(`--${name}`);
  return i >= 0 ? Deno.args[i + 1] : fallback;
}
const votes = Number(option("votes", "100000"));
const dir = option("dir", "") || await Deno.makeTempDir({ prefix: "mesh-bench-proposals-" });
const T0 = 1_767_225_600_000;
const DEADLINE = T0 + 3_600_000;
const SIG = "A".repeat(86);
const log = (line: string) => console.log(`[${new Date().toISOString()}] ${line}`);

/** A 43-char agent id from a counter (not a key: nothing here verifies). */
function agentId(n: number): string {
  return `agent${String(n).padStart(37, "0")}A`;
}

function delta(author: string, seq: number, channel: string, ts: number, ops: unknown[]) {
  const body = JSON.stringify({ v: 1, author, seq, channel, ts, lc: 0, ops });
  return { id: deltaId(utf8Encode(body)), channel, author, seq, body, sig: SIG } as StoredDelta;
}

async function put(store: DenoKvStore, deltas: StoredDelta[]): Promise<void> {
  for (let i = 0; i < deltas.length; i += 1_000) await store.putDeltas(deltas.slice(i, i + 1_000));
}

const store = await DenoKvStore.open(`${dir}/bench.kv`);
const chair = agentId(0);
const value = {
  title: "bench",
  options: ["yes", "no"],
  deadline: DEADLINE,
  eligible: { skill: "review" },
};
const proposal = delta(chair, 1, PROPOSALS_CHANNEL, T0, [
  { op: "set", key: proposalKey(chair, 1), value },
]);
const id = proposal.id;
const ballot = (n: number, seq = 1) =>
  delta(agentId(n), seq, votesChannel(id), T0 + 1_000 + n, [{
    op: "set",
    key: agentId(n),
    value: { option: n % 3 === 0 ? "no" : "yes", deadline: DEADLINE, grace: 30_000 },
  }]);

let started = performance.now();
const reviewer = card("r", { review: ["code"] });
await put(
  store,
  Array.from(
    { length: votes + 1_000 },
    (_, i) =>
      delta(agentId(i + 1), 1, REGISTRY_CHANNEL, T0 - 1_000, [
        { op: "set", key: agentId(i + 1), value: reviewer },
      ]),
  ),
);
await put(store, [proposal]);
await put(store, Array.from({ length: votes }, (_, i) => ballot(i + 1)));
log(
  `loaded ${votes + 1_000} cards and ${votes} ballots in ${
    (performance.now() - started).toFixed(0)
  } ms`,
);

// Baseline: read and parse every ballot once.
started = performance.now();
let scanned = 0;
for (let after = 0;;) {
  const page = await store.listArrivals(votesChannel(id), after, 1_000);
  for (const d of page.deltas) scanned += JSON.parse(d.body).seq;
  after = page.cursor;
  if (!page.more) break;
}
const scanMs = performance.now() - started;
log(`baseline: scan of ${votes} ballots ${scanMs.toFixed(0)} ms (${scanned} seqs)`);

const rss = () => (globalThis as { gc?: () => void }).gc?.() ?? Deno.memoryUsage().rss;
const rssBefore = (rss(), Deno.memoryUsage().rss);
const app = meshRegionApp({ region: "bench-1", store, now: () => DEADLINE + 60_000 });
const time = async (what: string) => {
  const t = performance.now();
  const response = await app.request(`/v1/proposals/${id}?votes_limit=100`);
  const answer = await response.json();
  const ms = performance.now() - t;
  log(
    `${what}: ${ms.toFixed(1)} ms — ${answer.state} ${answer.outcome} ` +
      JSON.stringify(answer.tally.options) + ` of ${answer.tally.eligible.weight}`,
  );
  return ms;
};
const cold = await time("cold tally (reads cards and ballots)");
rss();
const rssAfter = Deno.memoryUsage().rss;
const warm = await time("warm tally (nothing new)");
await put(store, Array.from({ length: 1_000 }, (_, i) => ballot(votes + i + 1)));
const incremental = await time("after 1,000 more ballots");
console.log(JSON.stringify({
  votes,
  baselineScanMs: Math.round(scanMs),
  coldMs: Math.round(cold),
  coldOverScan: +(cold / scanMs).toFixed(2),
  warmMs: +warm.toFixed(1),
  incrementalMs: +incremental.toFixed(1),
  rssAddedMb: Math.round((rssAfter - rssBefore) / 1024 / 1024),
}));
store.close();
if (option("dir", "") === "") await Deno.remove(dir, { recursive: true });
