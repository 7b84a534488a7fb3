/**
 * A representative workload of the whole mesh in one process, for the telemetry registry test
 * (every declared span and metric must be seen): three regions in two zones (leases gained and
 * lost, heartbeats, pushes fanned out eagerly and by drains, a partition and its heal, anti-
 * entropy, a peer punished for an oversized sync answer), the registry, topics (a delivered and a
 * dropped subscriber), mailboxes, proposals, blobs (an upload, a pull, a collection), rate limits,
 * an instrumented store that fails, scheduled jobs on a timer scheduler, and a view checkpoint
 * written and read cold, and a bulk copy (bootstrap) of one region from another. Run it inside
 * `collectTelemetry`.
 */
import assert from "node:assert/strict";
import { signRequest } from "../../src/client/request_signer.ts";
import { Blobs } from "../../src/blobs/mod.ts";
import { createSha256 } from "../../src/crypto/sha256.ts";
import { blobRefKey, BLOBS_CHANNEL } from "../../src/protocol/blob_ref.ts";
import { instrumentStore } from "../../src/compose/instrumented_store.ts";
import { meshRegionApp } from "../../src/compose/mesh_region_app.ts";
import { TimerScheduler } from "../../src/mesh/scheduler.ts";
import { Registry } from "../../src/registry/registry.ts";
import { listChannels } from "../../src/views/channel_directory.ts";
import { CheckpointJob } from "../../src/views/checkpoint_job.ts";
import { SYNC_FRAME_BYTES_MAX } from "../../src/sync/range_reconcile.ts";
import { MemoryStore } from "../../src/store/memory_store.ts";
import { createTelemetry } from "../../src/telemetry/mod.ts";
import { SUBSCRIBER_BUFFER_EVENTS_MAX } from "../../src/topics/subscription.ts";
import { TopicHub } from "../../src/topics/hub.ts";
import { InProcessMesh } from "../support/in_process_mesh.ts";
import { TwoRegions } from "../bootstrap/_two_regions.ts";
import { T0_MS, testAgent } from "../support/signing.ts";
import { announce, card } from "../registry/_cards.ts";
import { ack, ackOf, directMessage, inbox, send } from "../mailbox/_mail.ts";
import { publish, readEvents, topicMessage } from "../topics/_topics.ts";
import { proposalValue, signedProposal } from "../proposals/_proposals.ts";

const LAYOUT = [
  { id: "eu-1", zone: "eu" },
  { id: "eu-2", zone: "eu" },
  { id: "us-1", zone: "us" },
];

/** Runs every part of the workload in turn. */
export async function meshWorkload(): Promise<void> {
  await betweenRegions();
  await blobsAcrossRegions();
  await agentFeatures();
  await storeAndJobs();
  await viewCheckpoints();
  await bootstrapCopy();
}

/** A fresh region copies its peer's log (pages asked, served, stored; deltas counted). */
async function bootstrapCopy(): Promise<void> {
  const mesh = new TwoRegions(new MemoryStore(), new MemoryStore(), { mode: { from: "eu-1" } });
  for (let i = 0; i < 4; i++) await mesh.tick();
  await mesh.seed(12, 2);
  await mesh.fresh.bootstrap.tick();
  assert.equal(mesh.fresh.bootstrap.state?.status, "done");
  assert.ok(await mesh.converged());
}

async function betweenRegions(): Promise<void> {
  const mesh = new InProcessMesh(LAYOUT);
  for (let i = 0; i < 8; i++) await mesh.tick(); // leases, heartbeats, peers up, majority
  const agent = testAgent(() => mesh.nowMs);
  const pushed = await mesh.push("eu-1", [agent.sign("c", [{ op: "set", key: "k", value: 1 }])]);
  assert.equal(pushed[0].status, "accepted");
  for (let i = 0; i < 4; i++) await mesh.tick();
  assert.match(await mesh.view("us-1", "c"), /"k":1/);
  const us1 = mesh.region("us-1").app;
  for (const path of ["/v1/channels/c", "/v1/channels/c/deltas", "/v1/channels"]) {
    await (await us1.request(path)).body?.cancel();
  }
  // us-1 is cut off: its peers go down, it is in a minority, and what it takes stays with it.
  mesh.isolate("us-1");
  for (let i = 0; i < 12; i++) await mesh.tick();
  await mesh.push("us-1", [agent.sign("c", [{ op: "set", key: "k", value: 2 }])]);
  mesh.isolate(null);
  for (let i = 0; i < 8; i++) await mesh.tick();
  for (let i = 0; i < 3; i++) await mesh.antiEntropy();
  await oversizedSyncAnswer(mesh);
  await leaseTakenOver(mesh);
}

/**
 * Blobs: an upload to eu-1 with its signed metadata, a read on us-1 that pulls it from a peer,
 * and a collection of an unreferenced blob.
 */
async function blobsAcrossRegions(): Promise<void> {
  const mesh = new InProcessMesh(LAYOUT);
  for (let i = 0; i < 4; i++) await mesh.tick();
  const agent = testAgent(() => mesh.nowMs);
  const upload = async (bytes: Uint8Array<ArrayBuffer>) => {
    const hash = createSha256();
    hash.update(bytes);
    const digest = hash.digest();
    const sha = Array.from(digest, (b) => b.toString(16).padStart(2, "0")).join("");
    const request = new Request(`http://eu-1.mesh.test/v1/blobs/${sha}`, { method: "PUT" });
    const signed = await signRequest(agent.key, request, { nowMs: mesh.nowMs, bodySha256: digest });
    const put = await mesh.region("eu-1").app.request(
      new Request(request.url, { method: "PUT", headers: signed.headers, body: bytes }),
    );
    assert.equal(put.status, 201);
    return sha;
  };
  const sha = await upload(new Uint8Array(100_000).fill(7));
  const meta = { name: "b", type: "application/octet-stream", size: 100_000 };
  const ref = agent.sign(BLOBS_CHANNEL, [{
    op: "set",
    key: blobRefKey(agent.key.id, sha),
    value: meta,
  }]);
  assert.equal((await mesh.push("eu-1", [ref]))[0].status, "accepted");
  for (let i = 0; i < 3; i++) await mesh.tick();
  const pulled = await mesh.region("us-1").app.request(`/v1/blobs/${sha}`);
  assert.equal(pulled.status, 200);
  await pulled.arrayBuffer();
  await upload(new Uint8Array(10).fill(1)); // never referenced
  const later = () => mesh.nowMs + 2 * 3_600_000;
  const blobs = new Blobs({ region: "eu-1", store: mesh.region("eu-1").store, now: later });
  assert.equal((await blobs.tick()).removedBlobs, 1);
}

/** eu-2 answers /v1/sync with more than a frame: eu-1 abandons the session and backs off. */
async function oversizedSyncAnswer(mesh: InProcessMesh): Promise<void> {
  const honest = mesh.region("eu-2");
  mesh.regions.set("eu-2", {
    ...honest,
    app: {
      ...honest.app,
      request: async (path: string, init?: RequestInit) => {
        if (path !== "/v1/sync") return await honest.app.request(path, init);
        return new Response(new Uint8Array(SYNC_FRAME_BYTES_MAX + 1));
      },
    } as typeof honest.app,
  });
  const eu1 = mesh.region("eu-1").node;
  for (let i = 0; i < 2; i++) await eu1.antiEntropyTick();
  mesh.regions.set("eu-2", honest);
}

/** A second eu-1 instance takes the lease while the first is stalled: the first has lost it. */
async function leaseTakenOver(mesh: InProcessMesh): Promise<void> {
  const first = mesh.region("eu-1");
  mesh.add("eu-1", first.key, first.store, "eu-1-i2");
  mesh.nowMs += 10_000;
  await mesh.tick();
  await first.node.leaseTick();
  assert.equal(first.node.lease.isLeader, false);
}

/** Registry, topics, mailboxes, proposals and rate limits on one standalone region. */
async function agentFeatures(): Promise<void> {
  const store = new MemoryStore();
  const now = () => T0_MS + 1_000;
  const registry = new Registry({ region: "t", store, now });
  const topics = new TopicHub({ store, pollMs: 10 });
  const app = meshRegionApp({
    region: "t",
    store,
    now,
    registry,
    topics,
  });
  try {
    const alice = testAgent(now), bob = testAgent(now), carol = testAgent(now);
    const push = (deltas: unknown[]) =>
      app.request("/v1/deltas", {
        method: "POST",
        headers: { "content-type": "application/json" },
        body: JSON.stringify({ deltas }),
      });
    await (await push([announce(alice, card("Alice"))])).body?.cancel();
    await (await app.request("/v1/agents?skill=translate")).body?.cancel();
    await (await app.request(`/v1/agents/${alice.key.id}`)).body?.cancel();
    const heartbeat = new Request(`http://localhost/v1/agents/${bob.key.id}/heartbeat`, {
      method: "POST",
    });
    await (await app.request(heartbeat)).body?.cancel(); // unsigned: refused
    const signed = await signRequest(bob.key, heartbeat.clone(), { nowMs: now() });
    await (await app.request(signed)).body?.cancel();
    await registry.tick();
    await topicsAndDrop(app, bob);
    const [message] = await send(app, [await directMessage(carol, bob.key.id, "hi")]);
    await (await inbox(app, bob, now())).body?.cancel();
    await (await ack(app, bob, [await ackOf(bob, [message.id])], now())).body?.cancel();
    const proposal = signedProposal(bob.key, proposalValue({ eligible: { agents: [bob.key.id] } }));
    await (await push([proposal.envelope])).body?.cancel();
    await (await app.request("/v1/proposals")).body?.cancel();
    await (await app.request(`/v1/proposals/${proposal.id}`)).body?.cancel();
  } finally {
    topics.close();
    await registry.liveness.flush(now()).catch(() => 0);
  }
  await authorOverItsBudget();
}

/** Two deltas by an author whose burst is one: the second is refused `rate_limited`. */
async function authorOverItsBudget(): Promise<void> {
  const store = new MemoryStore();
  const app = meshRegionApp({
    region: "t",
    store,
    now: () => T0_MS,
    rateLimits: { authorDeltaBurst: 1, authorDeltaRatePerS: 0.001 },
  });
  const agent = testAgent();
  const ops = [{ op: "set" as const, key: "k", value: 1 }];
  const response = await app.request("/v1/deltas", {
    method: "POST",
    headers: { "content-type": "application/json" },
    body: JSON.stringify({ deltas: [agent.sign("c", ops), agent.sign("c", ops)] }),
  });
  const { results } = await response.json();
  assert.equal(results[1].reason, "rate_limited");
}

/** One subscriber reads all it is sent; one reads nothing until it is dropped. */
async function topicsAndDrop(
  app: ReturnType<typeof meshRegionApp>,
  agent: ReturnType<typeof testAgent>,
): Promise<void> {
  const fast = await app.request("/v1/topics/news/events");
  const slow = await app.request("/v1/topics/load/events");
  const slowReader = slow.body!.getReader();
  await slowReader.read(); // the stream is open; nothing more is read
  const fastReading = readEvents(fast, 2); // `ready`, then the message
  await publish(app, "news", [await topicMessage(agent, "news", "hello")]);
  await fastReading;
  const total = SUBSCRIBER_BUFFER_EVENTS_MAX + 8;
  for (let i = 0; i < total; i += 256) {
    const batch = [];
    for (let j = i; j < Math.min(total, i + 256); j++) batch.push(topicMessage(agent, "load", j));
    await publish(app, "load", await Promise.all(batch));
  }
  slowReader.releaseLock();
  const events = await readEvents(slow, 2);
  assert.equal(events.at(-1)?.event, "dropped");
}

/** A store that fails once, and jobs on a timer scheduler, one of which fails. */
async function storeAndJobs(): Promise<void> {
  const memory = new MemoryStore();
  const store = instrumentStore(memory, { region: "t", telemetry: createTelemetry() });
  await store.logHead();
  memory.failing = true;
  await assert.rejects(store.logHead());
  memory.failing = false;
  const scheduler = new TimerScheduler();
  scheduler.every("works", 5, () => Promise.resolve());
  scheduler.every("fails", 5, () => Promise.reject(new Error("this job fails on purpose")));
  await new Promise((r) => setTimeout(r, 30));
  await scheduler.stop();
}

/** A channel large enough to checkpoint: the job writes its checkpoint, a cold read starts there. */
async function viewCheckpoints(): Promise<void> {
  const store = new MemoryStore();
  const app = meshRegionApp({ region: "t", store, now: () => T0_MS });
  const agent = testAgent();
  const deltas = Array.from(
    { length: 5 },
    (_, i) => agent.sign("big", [{ op: "inc", counter: "n", by: i }]),
  );
  await (await app.request("/v1/deltas", {
    method: "POST",
    headers: { "content-type": "application/json" },
    body: JSON.stringify({ deltas }),
  })).body?.cancel();
  const job = new CheckpointJob({
    region: "t",
    store,
    instance: "t-1",
    channels: (after, limit) => listChannels(store, "", after, limit),
    minDeltas: 5,
    everyDeltas: 5,
  });
  assert.equal((await job.tick()).written, 1);
  const cold = meshRegionApp({ region: "t", store, now: () => T0_MS });
  assert.match(await (await cold.request("/v1/channels/big")).text(), /"n":10/);
}
