/**
 * Review of issue 8 item 1 ("the same root cause lets `_certificates` make admission differ
 * between regions"): a region admits a delta of a `certificate` channel on a certificate carried
 * by another delta of the same push, before the rate limiter runs. When the rate limiter then
 * refuses the carrier delta (its author's budget is spent) the gated delta is stored without the
 * certificate that admitted it, relayed, and refused `not_admitted` by every other region for
 * ever: the honest regions end with different sets and different views, and anti-entropy offers
 * the delta again in every session.
 */
import assert from "node:assert/strict";
import { AgentKey } from "../../src/crypto/agent_key.ts";
import type { Envelope } from "../../src/client/mesh_client.ts";
import { encodeBase64Url } from "../../src/protocol/base64url.ts";
import { certificateMessage, CERTIFICATES_CHANNEL } from "../../src/protocol/certificate.ts";
import { PUSH_DELTAS_MAX } from "../../src/protocol/limits.ts";
import { verifyEd25519 } from "../../src/crypto/mod.ts";
import { parseAdmission } from "../../src/guard/admission.ts";
import { ingest } from "../../src/region/ingest.ts";
import { AUTHOR_DELTA_BURST } from "../../src/guard/rate_limiter.ts";
import { InProcessMesh } from "../support/in_process_mesh.ts";
import { bodyOf, idOf, signBody } from "../support/signing.ts";

const LAYOUT = [
  { id: "eu-1", zone: "eu" },
  { id: "eu-2", zone: "eu" },
  { id: "us-1", zone: "us" },
];

function signed(key: AgentKey, overrides: Record<string, unknown>): Envelope {
  return signBody(key, JSON.stringify(bodyOf(key, overrides)));
}

async function converge(mesh: InProcessMesh) {
  for (let i = 0; i < 10; i++) await mesh.tick();
  for (let i = 0; i < 3; i++) await mesh.antiEntropy();
  for (let i = 0; i < 4; i++) await mesh.tick();
}

async function storedIds(mesh: InProcessMesh, region: string, channel: string) {
  const page = await mesh.region(region).store.listArrivals(channel, 0, 1_000);
  return page.deltas.map((d) => d.id).sort();
}

Deno.test({
  name:
    "review: a certificate carried in a push whose carrier is rate limited must not admit a gated delta that other regions then refuse for ever",
  // Was a defect (admission split): ingest's judge() counts certificates of every verified delta of the
  // batch before admit() (rate limits) drops some of them; the gated delta is stored without its
  // certificate and the other regions refuse it `not_admitted` for good. Fixed; this guards it.
  async fn() {
    const operator = AgentKey.generate();
    const admission = parseAdmission(
      JSON.stringify({
        v: 1,
        operators: [operator.id],
        default: "open",
        channels: [{ match: "gated", policy: "certificate" }],
      }),
      "test.json",
    );
    const mesh = new InProcessMesh(LAYOUT, { admission });
    for (let i = 0; i < 8; i++) await mesh.tick();

    // X holds an operator certificate nobody has published; K is a throwaway carrier key.
    const x = AgentKey.generate();
    const carrier = AgentKey.generate();
    const body = JSON.stringify({
      v: 1,
      author: x.id,
      channels: ["gated"],
      expires: mesh.nowMs + 3_600_000,
    });
    const sig = encodeBase64Url(operator.sign(certificateMessage(body)));
    const certificate = signed(carrier, {
      channel: CERTIFICATES_CHANNEL,
      seq: 1,
      ts: mesh.nowMs,
      ops: [{ op: "set", key: x.id, value: { body, sig } }],
    });
    const gated = signed(x, {
      channel: "gated",
      seq: 1,
      ts: mesh.nowMs,
      ops: [{ op: "set", key: "who", value: "x" }],
    });

    // K spends its author budget in eu-1 in an open channel (the region clock stands still).
    let seq = 0;
    while (seq < AUTHOR_DELTA_BURST) {
      const batch = [];
      for (let i = 0; i < PUSH_DELTAS_MAX && seq < AUTHOR_DELTA_BURST; i++) {
        seq++;
        batch.push(signed(carrier, { channel: "junk", seq, ts: mesh.nowMs }));
      }
      const results = await mesh.push("eu-1", batch);
      assert.ok(results.every((r) => r.status === "accepted"));
    }

    const results = await mesh.push("eu-1", [certificate, gated]) as {
      status: string;
      reason?: string;
    }[];
    assert.equal(results[0].reason, "rate_limited", "the carrier is over its budget");
    // What must hold: the gated delta is refused with its certificate, or stored with it.
    await converge(mesh);
    const sets = await Promise.all(LAYOUT.map((r) => storedIds(mesh, r.id, "gated")));
    const certs = await Promise.all(
      LAYOUT.map((r) => storedIds(mesh, r.id, CERTIFICATES_CHANNEL)),
    );
    const views = await Promise.all(LAYOUT.map((r) => mesh.view(r.id, "gated")));
    assert.deepEqual(
      sets,
      LAYOUT.map(() => sets[0]),
      `equal gated sets in every region: ${JSON.stringify(sets)}, certificates ${
        JSON.stringify(certs)
      }, gated delta ${idOf(gated)}`,
    );
    assert.equal(new Set(views).size, 1, "byte-identical gated views");
  },
});

Deno.test({
  name:
    "review: deltas other regions refuse for ever must not starve anti-entropy of honest deltas",
  // Was a defect (consequence of the admission split, now that 854b5cc filters nothing out of
  // sessions): thousands of gated deltas admitted only in eu-1 are offered again in every
  // session, fill SYNC_SESSION_DELTAS_MAX, and honest deltas whose ids sort after them are never
  // repaired. Fixed; this guards it.
  async fn() {
    const operator = AgentKey.generate();
    const admission = parseAdmission(
      JSON.stringify({
        v: 1,
        operators: [operator.id],
        default: "open",
        channels: [{ match: "gated", policy: "certificate" }],
      }),
      "test.json",
    );
    const mesh = new InProcessMesh(LAYOUT.slice(0, 2), { admission });
    for (let i = 0; i < 8; i++) await mesh.tick();
    const x = AgentKey.generate(), carrier = AgentKey.generate();
    const body = JSON.stringify({
      v: 1,
      author: x.id,
      channels: ["gated"],
      expires: mesh.nowMs + 3_600_000,
    });
    const sig = encodeBase64Url(operator.sign(certificateMessage(body)));
    const certificate = signed(carrier, {
      channel: CERTIFICATES_CHANNEL,
      ts: mesh.nowMs,
      ops: [{ op: "set", key: x.id, value: { body, sig } }],
    });
    let seq = 0;
    while (seq < AUTHOR_DELTA_BURST) {
      const batch = [];
      for (let i = 0; i < PUSH_DELTAS_MAX && seq < AUTHOR_DELTA_BURST; i++) {
        batch.push(signed(carrier, { channel: "junk", seq: ++seq, ts: mesh.nowMs }));
      }
      await mesh.push("eu-1", batch);
    }
    let xs = 0;
    for (let p = 0; p < 16; p++) {
      const batch = [certificate];
      for (let i = 0; i < PUSH_DELTAS_MAX - 1; i++) {
        batch.push(signed(x, { channel: "gated", seq: ++xs, ts: mesh.nowMs }));
      }
      await mesh.push("eu-1", batch);
    }
    for (let i = 0; i < 10; i++) await mesh.tick(); // fan-out: eu-2 refuses them all
    // Honest deltas eu-1 holds that only anti-entropy can bring to eu-2 (stored as synced).
    const honest = Array.from({ length: 12 }, () => AgentKey.generate()).map((k) =>
      signed(k, { channel: "room", ts: mesh.nowMs })
    );
    await ingest(honest, mesh.region("eu-1").store, verifyEd25519, mesh.nowMs, { origin: "sync" });
    for (let round = 0; round < 5; round++) {
      await mesh.antiEntropy();
      for (let i = 0; i < 4; i++) await mesh.tick();
    }
    const got = new Set(await storedIds(mesh, "eu-2", "room"));
    const missing = honest.map(idOf).filter((id) => !got.has(id));
    assert.deepEqual(missing, [], "every honest delta reaches eu-2");
  },
});
