import assert from "node:assert/strict";
import { HEALTH_SUSPECT_PHI, type HealthReading, peerHealth } from "../../src/mesh/peer_health.ts";
import { PHI_THRESHOLD_DEFAULT, PhiAccrualDetector } from "../../src/mesh/phi_accrual.ts";
import { InProcessMesh } from "../support/in_process_mesh.ts";

const SEEN_MS = 1_000;
const reading = (r: Partial<HealthReading>): HealthReading => ({
  monitored: true,
  phi: 0,
  lastSeenMs: SEEN_MS,
  ...r,
});

Deno.test("peerHealth() maps a monitored peer's phi to up, suspect and down at the two thresholds", () => {
  assert.equal(peerHealth(reading({ phi: 0 })), "up");
  assert.equal(peerHealth(reading({ phi: HEALTH_SUSPECT_PHI - 1e-9 })), "up");
  assert.equal(peerHealth(reading({ phi: HEALTH_SUSPECT_PHI })), "suspect");
  assert.equal(peerHealth(reading({ phi: PHI_THRESHOLD_DEFAULT - 1e-9 })), "suspect");
  assert.equal(peerHealth(reading({ phi: PHI_THRESHOLD_DEFAULT })), "down");
  assert.equal(peerHealth(reading({ phi: 8_690 })), "down");
  assert.equal(peerHealth(reading({ phi: 3 }), 2), "down", "a lower threshold bites first");
  assert.equal(peerHealth(reading({ phi: 0.9 }), 0.5), "down");
});

Deno.test("peerHealth() calls a peer never heard, or with a phi that is no number, down", () => {
  assert.equal(peerHealth(reading({ lastSeenMs: null, phi: null })), "down");
  assert.equal(peerHealth(reading({ lastSeenMs: null, phi: 0 })), "down");
  assert.equal(peerHealth(reading({ phi: null })), "down");
  assert.equal(peerHealth(reading({ phi: Infinity })), "down");
  assert.equal(peerHealth(reading({ phi: NaN })), "down");
});

Deno.test("peerHealth() says not monitored whatever the phi when this instance does not heartbeat the peer", () => {
  for (const phi of [0, 5, 8_690, Infinity, null]) {
    assert.equal(peerHealth(reading({ monitored: false, phi })), "not monitored");
  }
  assert.equal(peerHealth(reading({ monitored: false, lastSeenMs: null })), "not monitored");
});

Deno.test("peerHealth() on a real detector: up while heartbeats come, suspect then down as silence grows", () => {
  const detector = new PhiAccrualDetector({ expectedIntervalMs: 250 });
  for (let t = 0; t <= 10_000; t += 250) detector.heartbeat(t);
  const at = (ms: number) =>
    peerHealth({ monitored: true, phi: detector.phi(ms), lastSeenMs: detector.lastSeenMs });
  assert.equal(at(10_250), "up");
  assert.equal(at(10_500), "up", "one lost heartbeat is not suspicious");
  assert.equal(at(10_650), "suspect");
  assert.equal(at(11_000), "down");
});

Deno.test("MeshNode.status() shows phi only for monitored peers: a healthy non-target reads not monitored, not dead", async () => {
  const mesh = new InProcessMesh([
    { id: "eu-1", zone: "eu" },
    { id: "eu-2", zone: "eu" },
    { id: "us-1", zone: "us" },
  ]);
  for (let i = 0; i < 8; i++) await mesh.tick();
  // eu-2 does not lead zone eu, so it heartbeats eu-1 only; us-1 it reaches through eu-1.
  for (let i = 0; i < 40; i++) await mesh.tick(); // ten seconds: any early phi for us-1 has grown
  const status = await (await mesh.region("eu-2").app.request("/v1/status")).json();
  const peer = (id: string) => status.peers.find((p: { id: string }) => p.id === id);
  assert.equal(peer("us-1").target, false);
  assert.equal(peer("us-1").health, "not monitored");
  assert.equal(peer("us-1").phi, null);
  assert.equal(peer("us-1").reachable, true);
  assert.equal(peer("eu-1").health, "up");
  assert.equal(typeof peer("eu-1").phi, "number");
  assert.ok(peer("eu-1").phi < HEALTH_SUSPECT_PHI);
  assert.deepEqual(peer("eu-1").reaches, ["eu-1", "eu-2", "us-1"]);
  // eu-1 leads zone eu: it monitors both.
  const lead = await (await mesh.region("eu-1").app.request("/v1/status")).json();
  assert.deepEqual(lead.peers.map((p: { health: string }) => p.health), ["up", "up"]);
});

Deno.test("MeshNode.status() calls a monitored peer behind a cut down, and up again after the heal", async () => {
  const mesh = new InProcessMesh([{ id: "eu-1", zone: "eu" }, { id: "eu-2", zone: "eu" }]);
  for (let i = 0; i < 8; i++) await mesh.tick();
  const healthOf = async () =>
    (await (await mesh.region("eu-1").app.request("/v1/status")).json()).peers[0].health;
  assert.equal(await healthOf(), "up");
  mesh.cut.add("eu-1>eu-2");
  await mesh.tick();
  await mesh.tick();
  assert.equal(await healthOf(), "suspect", "two heartbeats missed (500 ms + the step)");
  for (let i = 0; i < 4; i++) await mesh.tick();
  assert.equal(await healthOf(), "down");
  mesh.cut.clear();
  await mesh.tick();
  assert.equal(await healthOf(), "up");
});
