/**
 * The drain's pages count the log entries that go to the target, skipping the others (a zone
 * leader's log holds every zone's deltas, few of which go to one far zone), and go
 * FANOUT_PAGES_IN_FLIGHT at a time: a round trip moves more than 1,024 of the target's entries
 * however many others the log interleaves. The cursor still moves only past acknowledged pages.
 */
import assert from "node:assert/strict";
import { drainTo, FANOUT_PAGE_DELTAS_MAX } from "../../src/mesh/fan_out.ts";
import type { RegionInfo } from "../../src/mesh/topology.ts";
import { MemoryStore } from "../../src/store/memory_store.ts";
import { FIRST_DATA_SHARD } from "../../src/store/region_log.ts";
import { fakeAuthor, storedDelta } from "../support/deltas.ts";

const SELF = { id: "eu-1", zone: "eu", url: "http://eu-1.test" } as RegionInfo;
const TARGET = { id: "eu-2", zone: "eu", url: "http://eu-2.test" } as RegionInfo;

/** A log of `total` entries of which every `every`-th goes to a zone peer (`agent`); the rest do not (`zone`). */
async function interleavedLog(total: number, every: number) {
  const store = new MemoryStore();
  const author = fakeAuthor(7);
  const targetBodies = new Set<string>();
  for (let i = 0; i < total; i++) {
    const delta = storedDelta("room", author, i + 1);
    const goes = i % every === 0;
    if (goes) targetBodies.add(delta.body);
    await store.putDeltas([delta], goes ? "agent" : "zone");
  }
  return { store, targetBodies };
}

/**
 * A network whose round trips the test steps: sends wait until `roundTrip()` answers every send
 * under way at once (acknowledged unless `fail` says otherwise for its position in the round).
 */
function steppedNetwork() {
  const underway: { bodies: string[]; answer: (ok: boolean) => void }[] = [];
  const delivered: string[] = [];
  return {
    delivered,
    send: (_t: RegionInfo, _label: string, deltas: { body: string }[]) =>
      new Promise<boolean>((answer) =>
        underway.push({ bodies: deltas.map((d) => d.body), answer })
      ),
    /** Answers the sends under way; how many deltas were acknowledged. */
    roundTrip(fail: (i: number) => boolean = () => false): number {
      let acked = 0;
      underway.splice(0).forEach((s, i) => {
        const ok = !fail(i);
        if (ok) (delivered.push(...s.bodies), acked += s.bodies.length);
        s.answer(ok);
      });
      return acked;
    },
  };
}

/** Runs a drain, one round trip per turn of the event loop; the deltas acknowledged per round. */
async function drainInRounds(
  store: MemoryStore,
  net: ReturnType<typeof steppedNetwork>,
  fail?: (round: number, i: number) => boolean,
) {
  const heads = await store.logHeads();
  let done = false;
  const drain = drainTo(store, SELF, TARGET, false, net.send, { heads, acked: null })
    .finally(() => done = true);
  const perRound: number[] = [];
  while (!done) {
    await new Promise((r) => setTimeout(r, 0));
    if (done) break;
    const round = perRound.length;
    perRound.push(net.roundTrip(fail === undefined ? undefined : (i) => fail(round, i)));
  }
  return { result: await drain, perRound };
}

Deno.test("drainTo() moves more than 1,024 of the target's entries per round trip among 3 times as many others", async () => {
  const { store, targetBodies } = await interleavedLog(6_000, 4);
  const net = steppedNetwork();
  const { result, perRound } = await drainInRounds(store, net);
  assert.equal(result.ok, true);
  assert.deepEqual(new Set(net.delivered), targetBodies, "every target entry, nothing else");
  assert.equal(net.delivered.length, targetBodies.size, "each once");
  assert.ok(
    perRound[0] > FANOUT_PAGE_DELTAS_MAX,
    `the first round trip moved ${perRound[0]} of ${targetBodies.size} (rounds: ${perRound})`,
  );
  assert.equal(result.cursor[FIRST_DATA_SHARD], 6_000);
  assert.equal(result.behind, 0);
});

Deno.test("drainTo() resends from the first page not acknowledged, even when a later one was", async () => {
  const { store, targetBodies } = await interleavedLog(6_000, 4);
  const net = steppedNetwork();
  // Round 1 carries two pages (4 messages each): the first page's first message fails.
  const first = await drainInRounds(store, net, (round, i) => round === 0 && i === 0);
  assert.equal(first.result.ok, false);
  assert.equal(
    first.result.cursor[FIRST_DATA_SHARD],
    0,
    "the cursor stayed before the failed page",
  );
  assert.equal(await store.getCursor("fanout:eu-2:" + FIRST_DATA_SHARD), 0);
  const again = steppedNetwork();
  const second = await drainInRounds(store, again);
  assert.equal(second.result.ok, true);
  assert.deepEqual(new Set(again.delivered), targetBodies, "nothing skipped");
  assert.equal(second.result.cursor[FIRST_DATA_SHARD], 6_000);
});

Deno.test("drainTo() keeps the pages acknowledged before a failed one", async () => {
  const { store, targetBodies } = await interleavedLog(6_000, 4);
  const net = steppedNetwork();
  // The second page (messages 4 to 7 of round 1) fails; the first is acknowledged.
  const first = await drainInRounds(store, net, (round, i) => round === 0 && i >= 4);
  assert.equal(first.result.ok, false);
  const kept = first.result.cursor[FIRST_DATA_SHARD];
  assert.ok(kept > 0 && kept < 6_000, `cursor ${kept} past the first page only`);
  const again = steppedNetwork();
  const second = await drainInRounds(store, again);
  assert.equal(second.result.ok, true);
  assert.deepEqual(
    new Set([...net.delivered.slice(0, FANOUT_PAGE_DELTAS_MAX), ...again.delivered]),
    targetBodies,
    "the first page and the resent rest hold every target entry",
  );
});
