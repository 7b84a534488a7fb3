/**
 * Topics and mailboxes on the seeded in-process mesh: agents publish and send direct messages at
 * random regions while the network partitions and drops requests, the recipient acknowledges some
 * messages wherever it is, and one publisher equivocates (two messages with one seq, told to two
 * regions). After the heal every region replays the same topic messages and lists the same
 * mailbox: nothing accepted is lost, nothing acknowledged comes back, the equivocator's messages
 * are gone everywhere, and a subscriber that moves region mid-stream gets each message once.
 * Replay a seed with `MESH_SIM_SEED=<seed> deno test -A test/topics/messaging_mesh_test.ts`.
 */
import assert from "node:assert/strict";
import type { Hono } from "hono";
import { Agent } from "../../src/client/agent.ts";
import { HybridClock } from "../../src/client/hybrid_clock.ts";
import { InProcessMesh } from "../support/in_process_mesh.ts";
import { Rng, seedsToRun } from "../support/seeded_rng.ts";
import { idOf, testAgent } from "../support/signing.ts";
import { ack, ackOf, directMessage, inbox, send } from "../mailbox/_mail.ts";
import { poll, publish, topicMessage } from "./_topics.ts";

const SEEDS = [5, 23];
const LAYOUT = [
  { id: "eu-1", zone: "eu" },
  { id: "eu-2", zone: "eu" },
  { id: "us-1", zone: "us" },
];
const FAULT_TICKS = 40;
const CONVERGE_TICKS_MAX = 200;

/** Every topic message a region replays for `swarm.>`, as sorted ids. */
async function replayed(app: Hono): Promise<string[]> {
  const ids: string[] = [];
  let query = "since=0&limit=256";
  for (;;) {
    const page = await poll(app, "swarm.>", query);
    ids.push(...page.messages.map((m) => m.id));
    if (page.messages.length < 256) return ids.sort();
    query = `cursor=${page.cursor}&limit=256`;
  }
}

async function mailbox(mesh: InProcessMesh, id: string, owner: Agent): Promise<string[]> {
  const answer = await (await inbox(mesh.region(id).app, owner, mesh.nowMs, owner, "?limit=256"))
    .json();
  return answer.messages.map((m: { id: string }) => m.id).sort();
}

async function runSeed(seed: number): Promise<void> {
  const rng = new Rng(seed);
  let faults = true;
  const mesh = new InProcessMesh(LAYOUT, {
    delivery: () => faults && rng.chance(0.15) ? "drop" : "deliver",
    random: () => rng.next(),
  });
  const ids = LAYOUT.map((r) => r.id);
  for (let i = 0; i < 8; i++) await mesh.tick();
  const agents = Array.from({ length: 4 }, () => testAgent(() => mesh.nowMs));
  const bob = testAgent(() => mesh.nowMs);
  const cheat = testAgent(() => mesh.nowMs);
  const published = new Set<string>(), mailed = new Set<string>(), acked = new Set<string>();
  for (let t = 0; t < FAULT_TICKS; t++) {
    if (t % 10 === 0) mesh.isolate(rng.pick([...ids, null])); // one region alone, or none
    const at = rng.pick(ids), app = mesh.region(at).app;
    const agent = rng.pick(agents);
    const roll = rng.next();
    if (roll < 0.5) {
      const topic = `swarm.${rng.int(3)}`;
      const message = await topicMessage(agent, topic, { t, at });
      if ((await publish(app, topic, [message]))[0].status === "accepted") {
        published.add(idOf(message));
      }
    } else if (roll < 0.85) {
      const message = await directMessage(agent, bob.key.id, { t });
      if ((await send(app, [message]))[0].status === "accepted") mailed.add(idOf(message));
    } else if (mailed.size > 0) {
      const id = rng.pick([...mailed].filter((m) => !acked.has(m)));
      if (id !== undefined) {
        const answer = await ack(app, bob, [await ackOf(bob, [id])], mesh.nowMs);
        if ((await answer.json()).results[0].status === "accepted") acked.add(id);
      }
    }
    if (t === 5) {
      await publish(mesh.region("eu-1").app, "swarm.0", [
        await topicMessage(cheat, "swarm.0", "A"),
      ]);
      const twin = new Agent(cheat.key, new HybridClock(() => mesh.nowMs));
      await publish(mesh.region("us-1").app, "swarm.0", [await topicMessage(twin, "swarm.0", "B")]);
    }
    await mesh.tick();
    if (t % 4 === 0) await mesh.antiEntropy();
  }
  faults = false;
  mesh.cut.clear();
  let topics: string[][] = [], boxes: string[][] = [];
  for (let t = 0; t < CONVERGE_TICKS_MAX; t++) {
    await mesh.tick();
    if (t % 4 === 0) await mesh.antiEntropy();
    topics = await Promise.all(ids.map((id) => replayed(mesh.region(id).app)));
    boxes = await Promise.all(ids.map((id) => mailbox(mesh, id, bob)));
    const same = (xs: string[][]) => xs.every((x) => JSON.stringify(x) === JSON.stringify(xs[0]));
    if (same(topics) && same(boxes)) break;
  }
  for (const [i, id] of ids.entries()) {
    assert.deepEqual(topics[i], topics[0], `seed ${seed}: ${id} replays otherwise`);
    assert.deepEqual(boxes[i], boxes[0], `seed ${seed}: ${id} lists bob's mailbox otherwise`);
  }
  assert.deepEqual(topics[0], [...published].sort(), `seed ${seed}: topic messages lost or extra`);
  const unacked = [...mailed].filter((m) => !acked.has(m)).sort();
  assert.deepEqual(boxes[0], unacked, `seed ${seed}: mailbox lost, extra or acked messages`);
  assert.ok(published.size > 3 && acked.size > 0, `seed ${seed}: the run exercised too little`);

  // A subscriber reads part of the stream on eu-1, then resumes on us-1.
  const first = await poll(mesh.region("eu-1").app, "swarm.>", "since=0&limit=5");
  const rest = await poll(mesh.region("us-1").app, "swarm.>", `cursor=${first.cursor}&limit=256`);
  const both = [...first.messages, ...rest.messages].map((m) => m.id).sort();
  assert.deepEqual(both, topics[0], `seed ${seed}: moving region lost or repeated messages`);
}

Deno.test("after partitions, drops and an equivocating publisher, topics and mailboxes agree everywhere", async () => {
  for (const seed of seedsToRun(SEEDS)) await runSeed(seed);
});
