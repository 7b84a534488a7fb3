/**
 * The registry on the seeded in-process mesh: agents announce, re-announce, withdraw and write
 * elsewhere at random regions while the network partitions and drops requests, and one agent
 * equivocates (two different cards at one seq, told to two regions at once). After the heal every
 * region answers discovery identically — the same agents, cards and lastSeen, in the same order —
 * and that answer is the `_registry` view's map, the equivocator left out everywhere.
 * Replay a seed with `MESH_SIM_SEED=<seed> deno test -A test/registry/registry_mesh_test.ts`.
 */
import assert from "node:assert/strict";
import { Agent } from "../../src/client/agent.ts";
import { HybridClock } from "../../src/client/hybrid_clock.ts";
import { REGISTRY_CHANNEL } from "../../src/protocol/agent_card.ts";
import { InProcessMesh } from "../support/in_process_mesh.ts";
import { Rng, seedsToRun } from "../support/seeded_rng.ts";
import { testAgent } from "../support/signing.ts";
import { announce, card, discoverAll, withdraw } from "./_cards.ts";

const SEEDS = [7, 11, 2026];
const LAYOUT = [
  { id: "eu-1", zone: "eu" },
  { id: "eu-2", zone: "eu" },
  { id: "us-1", zone: "us" },
];
const FAULT_TICKS = 40;
const CONVERGE_TICKS_MAX = 200;
const SKILLS = ["translate", "summarise", "ocr"];

async function runSeed(seed: number): Promise<void> {
  const rng = new Rng(seed);
  let faults = true;
  const mesh = new InProcessMesh(LAYOUT, {
    delivery: () => faults && rng.chance(0.15) ? "drop" : "deliver",
    random: () => rng.next(),
  });
  const ids = LAYOUT.map((r) => r.id);
  for (let i = 0; i < 8; i++) await mesh.tick();
  const agents = Array.from({ length: 6 }, () => testAgent(() => mesh.nowMs));
  const cheat = testAgent(() => mesh.nowMs);
  for (let t = 0; t < FAULT_TICKS; t++) {
    if (t % 10 === 0) mesh.isolate(rng.pick([...ids, null])); // one region alone, or none
    const agent = rng.pick(agents), at = rng.pick(ids);
    const roll = rng.next();
    const delta = roll < 0.5
      ? announce(agent, card(`Agent ${rng.int(100)}`, { [rng.pick(SKILLS)]: ["mesh"] }))
      : roll < 0.65
      ? withdraw(agent)
      : agent.sign("room", [{ op: "inc", counter: "n", by: 1 }]);
    await mesh.push(at, [delta]);
    if (t === 5) {
      await mesh.push("eu-1", [announce(cheat, card("Cheat A"))]);
      const twin = new Agent(cheat.key, new HybridClock(() => mesh.nowMs));
      await mesh.push("us-1", [announce(twin, card("Cheat B"))]);
    }
    await mesh.tick();
    if (t % 4 === 0) await mesh.antiEntropy();
  }
  faults = false;
  mesh.cut.clear();
  await converge(mesh, ids, seed);
  for (const id of ids) await mesh.region(id).registry.tick();
  const answers = await Promise.all(
    ids.map(async (id) =>
      (await discoverAll(mesh.region(id).app, "limit=2")).map(({ id, card, lastSeen }) => ({
        id,
        card,
        lastSeen,
      }))
    ),
  );
  for (const [i, answer] of answers.entries()) {
    assert.deepEqual(
      answer,
      answers[0],
      `seed ${seed}: ${ids[i]} answers otherwise than ${ids[0]}`,
    );
  }
  assert.ok(answers[0].length > 0, `seed ${seed}: nobody is listed`);
  const view = JSON.parse(await mesh.view("eu-1", REGISTRY_CHANNEL));
  assert.deepEqual(
    answers[0].map((a) => a.id).sort(),
    Object.keys(view.map).sort(),
    `seed ${seed}: discovery is not the view's map`,
  );
  assert.ok(!answers[0].some((a) => a.id === cheat.key.id), `seed ${seed}: the cheat is listed`);
  for (const a of answers[0]) assert.deepEqual(a.card, view.map[a.id], `seed ${seed}: card`);
  for (const id of ids) {
    const response = await mesh.region(id).app.request(`/v1/agents/${cheat.key.id}`);
    assert.equal(response.status, 404, `seed ${seed}: ${id} serves the cheat's card`);
  }
}

/** Ticks until every region holds the same views of `_registry` and `room`. */
async function converge(mesh: InProcessMesh, ids: string[], seed: number): Promise<void> {
  for (let t = 0; t < CONVERGE_TICKS_MAX; t++) {
    await mesh.tick();
    if (t % 4 === 0) await mesh.antiEntropy();
    const views = await Promise.all(
      ids.flatMap((id) => [mesh.view(id, REGISTRY_CHANNEL), mesh.view(id, "room")]),
    );
    if (views.every((v, i) => v === views[i % 2])) return;
  }
  assert.fail(`seed ${seed}: the mesh did not converge in ${CONVERGE_TICKS_MAX} ticks`);
}

Deno.test("after partitions, drops and an equivocating agent, every region answers discovery alike", async () => {
  for (const seed of seedsToRun(SEEDS)) await runSeed(seed);
});
