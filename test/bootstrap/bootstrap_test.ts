/**
 * Bootstrap by bulk copy (docs/protocol.md §26) between two in-process regions on Deno KV: an
 * empty region copies its peer and ends with the same set; a copy resumes from the cursor in the
 * store after a crash; the region writes its own checkpoints; a lying peer (junk, forged or
 * withheld deltas, a cursor that goes back, stays or crawls) makes it store nothing wrong and
 * cannot stall it, and anti-entropy brings the rest.
 */
import assert from "node:assert/strict";
import { DenoKvStore } from "../../src/store/deno_kv_store.ts";
import { BOOTSTRAP_IDLE_PAGES_MAX } from "../../src/mesh/bootstrap.ts";
import { readCopyState } from "../../src/mesh/bootstrap_state.ts";
import { CheckpointJob } from "../../src/views/checkpoint_job.ts";
import { listChannels } from "../../src/views/channel_directory.ts";
import { verifyEd25519 } from "../../src/crypto/mod.ts";
import { parseEnvelope } from "../../src/protocol/envelope.ts";
import type { Envelope } from "../../src/client/mesh_client.ts";
import { type Lie, TwoRegions } from "./_two_regions.ts";
import { TickScheduler } from "../../src/mesh/tick_scheduler.ts";
import { scheduleMeshJobs } from "../../workers/mesh_jobs.ts";
import { idOf, T0_MS, testAgent } from "../support/signing.ts";

async function regions(options: ConstructorParameters<typeof TwoRegions>[2] = {}) {
  const mesh = new TwoRegions(
    await DenoKvStore.open(":memory:"),
    await DenoKvStore.open(":memory:"),
    options,
  );
  for (let i = 0; i < 6; i++) await mesh.tick(); // leases, heartbeats: summaries known
  return mesh;
}

async function close(mesh: TwoRegions) {
  await mesh.peer.store.close();
  await mesh.fresh.store.close();
}

/** Ticks the fresh region's bootstrap job until its copy ended (bounded). */
async function copyUntilEnded(mesh: TwoRegions, ticksMax = 20) {
  for (let i = 0; i < ticksMax; i++) {
    await mesh.fresh.bootstrap.tick();
    const state = mesh.fresh.bootstrap.state;
    if (state !== null && state.status !== "copying") return state;
    for (let j = 0; j < 4; j++) await mesh.tick(); // a second of heartbeats: the peer stays up
  }
  throw new Error("the copy did not end");
}

/** Every delta the fresh region stores is one the peer was given (nothing forged or altered). */
async function storesOnlyGenuine(mesh: TwoRegions, genuine: readonly Envelope[]) {
  const ids = new Set(genuine.map(idOf));
  await mesh.fresh.index.catchUp();
  const page = await mesh.fresh.store.listLog(2, 0, 1); // touch the store: it answers
  assert.ok(page !== undefined);
  for (const channel of ["room-0", "room-1", "room-2"]) {
    for (let after = 0;;) {
      const arrivals = await mesh.fresh.store.listArrivals(channel, after, 1_000);
      for (const d of arrivals.deltas) assert.ok(ids.has(d.id), `stored a delta never pushed`);
      after = arrivals.cursor;
      if (!arrivals.more) break;
    }
  }
}

async function reconcileUntilConverged(mesh: TwoRegions, sessionsMax = 20) {
  for (let i = 0; i < sessionsMax && !await mesh.converged(); i++) {
    await mesh.fresh.node.antiEntropyTick();
    mesh.nowMs += 3_000;
    await mesh.tick();
  }
  assert.ok(await mesh.converged(), "anti-entropy brought the rest");
}

Deno.test("Bootstrap.tick() copies an empty region from its peer in the peer's log order: equal sets, own checkpoints", async () => {
  const mesh = await regions({ deltasMin: 1_000 });
  try {
    await mesh.seed(2_500, 1);
    for (let i = 0; i < 2; i++) await mesh.tick(); // the fresh region hears the peer's size
    const state = await copyUntilEnded(mesh, 40); // far behind for BOOTSTRAP_BEHIND_MS first
    assert.equal(state.status, "done");
    assert.equal(state.peer, "eu-1");
    assert.equal(state.stored, 2_500);
    assert.ok(await mesh.converged());
    assert.equal(await mesh.fresh.store.logHead(), 2_500);
    // Pages in order, each starting where the one before ended.
    assert.deepEqual(mesh.asked[0], { shard: 0, after: 0 });
    assert.ok(mesh.asked.length >= 3);
    // The region folds its own checkpoint from what it stored.
    const job = new CheckpointJob({
      region: "eu-2",
      store: mesh.fresh.store,
      instance: "eu-2-i1",
      channels: (after, limit) => listChannels(mesh.fresh.store, "", after, limit),
      now: () => mesh.nowMs,
    });
    const tick = await job.tick();
    assert.equal(tick.written, 1);
    // Done: the trigger does not fire again (the sets are equal now).
    const pages = mesh.asked.length;
    await mesh.fresh.bootstrap.tick();
    assert.equal(mesh.asked.length, pages);
  } finally {
    await close(mesh);
  }
});

Deno.test("Bootstrap does not start while the region is not far behind its peer", async () => {
  const mesh = await regions({ deltasMin: 5_000 });
  try {
    await mesh.seed(1_200, 2);
    for (let i = 0; i < 2; i++) await mesh.tick();
    await mesh.fresh.bootstrap.tick();
    assert.equal(mesh.fresh.bootstrap.state, null);
    assert.equal(mesh.asked.length, 0);
  } finally {
    await close(mesh);
  }
});

Deno.test("Bootstrap resumes a copy from the cursor in the store after a crash", async () => {
  const mesh = await regions({ mode: { from: "eu-1" } });
  try {
    await mesh.seed(2_500, 3);
    // Two pages get through, then the network fails: the tick ends with the copy under way.
    mesh.lie = (answer, page) => {
      if (page === 2) mesh.down = true;
      return answer;
    };
    await mesh.fresh.bootstrap.tick();
    const saved = (await readCopyState(mesh.fresh.store)).state!;
    assert.equal(saved.status, "copying");
    assert.equal(saved.pages, 2);
    assert.ok(saved.stored > 0 && saved.stored < 2_500);
    // A new process (a new Bootstrap over the same store) goes on from the stored cursor.
    mesh.down = false;
    mesh.lie = null;
    mesh.fresh.bootstrap = mesh.newBootstrap(mesh.fresh);
    const asked = mesh.asked.length;
    const state = await copyUntilEnded(mesh);
    assert.deepEqual(mesh.asked[asked], saved.cursor);
    assert.equal(state.status, "done");
    assert.equal(state.stored, 2_500);
    assert.ok(await mesh.converged());
  } finally {
    await close(mesh);
  }
});

Deno.test("scheduleMeshJobs() holds anti-entropy while a copy runs, and runs it once the copy ended", async () => {
  const mesh = await regions({ mode: { from: "eu-1" } });
  try {
    await mesh.seed(1_500, 2);
    const jobs = new TickScheduler({ now: () => mesh.nowMs });
    scheduleMeshJobs(jobs, mesh.fresh.node, mesh.fresh.bootstrap);
    mesh.down = true; // pages fail: the copy stays under way
    await jobs.tick();
    assert.equal(mesh.fresh.bootstrap.state?.status, "copying");
    mesh.nowMs += 5_000;
    const report = await jobs.tick();
    assert.ok(report.ran.includes("anti-entropy") && report.ran.includes("bootstrap"));
    assert.equal(mesh.syncRounds, 0, "no reconciliation while the copy runs");
    mesh.down = false;
    mesh.nowMs += 5_000;
    await jobs.tick(); // the copy ends in this round, before anti-entropy's turn
    assert.equal(mesh.fresh.bootstrap.state?.status, "done");
    assert.ok(mesh.syncRounds > 0, "reconciliation runs again");
    assert.ok(await mesh.converged());
  } finally {
    await close(mesh);
  }
});

/** One lie per case: each rewrites some pages of the peer's answers. */
const LIES: Record<string, (genuine: Envelope[]) => Lie> = {
  "junk envelopes": () => (a) => ({
    ...a,
    deltas: [...(a.deltas as Envelope[]).slice(1), { body: "{}", sig: "A".repeat(86) }],
  }),
  "a forged delta (body altered, signature kept)": () => (a) => {
    const [first, ...rest] = a.deltas as Envelope[];
    return { ...a, deltas: [{ ...first, body: first.body.replace('"by":1', '"by":9') }, ...rest] };
  },
  "a delta signed by another key": () => (a) => {
    const forger = testAgent(() => T0_MS);
    const body = JSON.parse((a.deltas as Envelope[])[0].body);
    const fake = forger.sign(body.channel, [{ op: "inc", counter: "n", by: 1000 }]);
    const forged = { body: fake.body.replace(forger.key.id, body.author), sig: fake.sig };
    return { ...a, deltas: [forged, ...(a.deltas as Envelope[]).slice(1)] };
  },
  "withheld deltas (every other one, and the copy ends early)": () => (a, page) => ({
    ...a,
    deltas: (a.deltas as Envelope[]).filter((_, i) => i % 2 === 0),
    done: page >= 2 ? true : a.done,
  }),
  "a cursor that goes back": () => (a, page) =>
    page >= 2 ? { ...a, next: { shard: 0, after: 0 }, done: false } : null,
  "a cursor that stays (a loop)": () => (a, page) =>
    page >= 2 ? { ...a, next: { shard: 2, after: 1 }, done: false, deltas: [] } : null,
  "a cursor that crawls with pages of nothing new": () => (a, page) => {
    const next = { shard: 17, after: page };
    return { ...a, next, done: false, deltas: [] };
  },
};

for (const [name, lie] of Object.entries(LIES)) {
  Deno.test(`Bootstrap from a peer that lies — ${name}: nothing wrong stored, no stall, reconciliation brings the rest`, async () => {
    const mesh = await regions({ mode: { from: "eu-1" } });
    try {
      const genuine = await mesh.seed(2_200, 3);
      mesh.lie = lie(genuine);
      const state = await copyUntilEnded(mesh, 10 + BOOTSTRAP_IDLE_PAGES_MAX);
      assert.ok(mesh.asked.length <= BOOTSTRAP_IDLE_PAGES_MAX + 8, `${mesh.asked.length} pages`);
      if (!name.startsWith("withheld")) assert.equal(state.status, "abandoned", state.reason ?? "");
      await storesOnlyGenuine(mesh, genuine);
      // Anti-entropy was held while the copy ran and runs now: the rest arrives.
      assert.equal(mesh.fresh.bootstrap.copying, false);
      mesh.lie = null;
      await reconcileUntilConverged(mesh);
      // Every stored delta verifies (ingest checked it; checked here again from the store).
      const page = await mesh.fresh.store.listArrivals("room-0", 0, 1_000);
      for (const d of page.deltas) {
        const parsed = parseEnvelope({ body: d.body, sig: d.sig }, mesh.nowMs);
        assert.ok(
          parsed.ok && await verifyEd25519(parsed.publicKey, parsed.signature, parsed.message),
        );
      }
    } finally {
      await close(mesh);
    }
  });
}
