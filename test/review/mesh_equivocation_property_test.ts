/**
 * Review of 854b5cc at mesh level: seeded runs in which a few liars sign two or three bodies at
 * one seq — in a room, in a certificate-gated channel, in `_certificates` (certificates for
 * gated writers) and in `_equivocations` — and send them, in mixed-channel batches, to random
 * regions while links are cut, requests dropped, duplicated or their replies lost; quarantined
 * liars keep pushing afterwards. After the network heals, every region must hold the same delta
 * set in every channel, render byte-identical views and quarantine the same authors (probed by a
 * push from every key to every region, which must get the same answer everywhere).
 */
import assert from "node:assert/strict";
import { AgentKey } from "../../src/crypto/agent_key.ts";
import type { Envelope } from "../../src/client/mesh_client.ts";
import { encodeBase64Url } from "../../src/protocol/base64url.ts";
import { certificateMessage, CERTIFICATES_CHANNEL } from "../../src/protocol/certificate.ts";
import { EQUIVOCATIONS_CHANNEL, proofValue } from "../../src/protocol/equivocation.ts";
import { parseAdmission } from "../../src/guard/admission.ts";
import { type Delivery, InProcessMesh } from "../support/in_process_mesh.ts";
import { Rng } from "../support/seeded_rng.ts";
import { bodyOf, idOf, signBody } from "../support/signing.ts";

const LAYOUT = [
  { id: "eu-1", zone: "eu" },
  { id: "eu-2", zone: "eu" },
  { id: "us-1", zone: "us" },
  { id: "us-2", zone: "us" },
];
const IDS = LAYOUT.map((r) => r.id);
const CHANNELS = ["room", "gated", CERTIFICATES_CHANNEL, EQUIVOCATIONS_CHANNEL];

function signed(key: AgentKey, overrides: Record<string, unknown>): Envelope {
  return signBody(key, JSON.stringify(bodyOf(key, overrides)));
}

async function runSeed(seed: number): Promise<void> {
  const rng = new Rng(seed);
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
  let chaos = true;
  const mesh = new InProcessMesh(LAYOUT, {
    admission,
    random: () => rng.next(),
    delivery: (): Delivery => {
      if (!chaos) return "deliver";
      return rng.pick<Delivery>([
        "deliver",
        "deliver",
        "deliver",
        "drop",
        "duplicate",
        "lose-reply",
      ]);
    },
  });
  for (let i = 0; i < 8; i++) await mesh.tick();

  const liars = Array.from({ length: 3 }, () => AgentKey.generate());
  const writers = Array.from({ length: 3 }, () => AgentKey.generate());
  const keys = [...liars, ...writers];
  const seqs = new Map<string, number>();
  const nextSeq = (key: AgentKey, channel: string) => {
    const k = `${key.id}/${channel}`;
    const s = (seqs.get(k) ?? 0) + 1;
    seqs.set(k, s);
    return s;
  };
  const certificateOps = (author: AgentKey, variant: number) => {
    const body = JSON.stringify({
      v: 1,
      author: author.id,
      channels: ["gated"],
      expires: mesh.nowMs + 3_600_000 + variant,
    });
    const sig = encodeBase64Url(operator.sign(certificateMessage(body)));
    return [{ op: "set", key: author.id, value: { body, sig } }];
  };
  const proofOps = () => {
    const puppet = AgentKey.generate();
    const [x, y] = ["p", "q"].map((v) =>
      signed(puppet, { channel: "room", ts: mesh.nowMs, ops: [{ op: "set", key: "k", value: v }] })
    );
    return [{
      op: "set",
      key: puppet.id,
      value: proofValue({ ...x, id: idOf(x) }, { ...y, id: idOf(y) }),
    }];
  };
  /** Body number `variant` of `key` at `seq` in `channel`. */
  const body = (key: AgentKey, channel: string, seq: number, variant: number): Envelope => {
    const ops = channel === CERTIFICATES_CHANNEL
      ? certificateOps(rng.pick(writers), variant)
      : channel === EQUIVOCATIONS_CHANNEL
      ? proofOps()
      : [{ op: "set", key: `k${rng.int(3)}`, value: `${key.id.slice(0, 4)}:${variant}` }, {
        op: "inc",
        counter: "n",
        by: variant + 1,
      }];
    return signed(key, { channel, seq, ts: mesh.nowMs, lc: variant, ops });
  };

  for (let step = 0; step < 30; step++) {
    // Links come and go.
    if (rng.chance(0.3)) {
      mesh.cut.clear();
      for (const a of IDS) {
        for (const b of IDS) if (a !== b && rng.chance(0.3)) mesh.cut.add(`${a}>${b}`);
      }
    }
    // A batch per region, mixing channels: honest writes and liars' several stories.
    const batches = new Map<string, Envelope[]>(IDS.map((id) => [id, []]));
    for (const key of writers) {
      const channel = rng.pick(["room", "gated", CERTIFICATES_CHANNEL]);
      batches.get(rng.pick(IDS))!.push(body(key, channel, nextSeq(key, channel), 0));
    }
    for (const key of liars) {
      if (!rng.chance(0.5)) continue;
      const channel = rng.pick(CHANNELS);
      const seq = nextSeq(key, channel);
      const stories = rng.between(1, 3);
      for (let v = 0; v < stories; v++) {
        const envelope = body(key, channel, seq, v);
        batches.get(rng.pick(IDS))!.push(envelope);
        if (rng.chance(0.2)) batches.get(rng.pick(IDS))!.push(envelope); // and a repeat
      }
    }
    await Promise.all(
      [...batches].filter(([, b]) => b.length > 0).map(([id, b]) => mesh.push(id, rng.shuffle(b))),
    );
    await mesh.tick();
    if (rng.chance(0.2)) await mesh.antiEntropy();
  }

  chaos = false;
  mesh.cut.clear();
  for (let round = 0; round < 6; round++) {
    for (let i = 0; i < 6; i++) await mesh.tick();
    await mesh.antiEntropy();
  }
  for (let i = 0; i < 6; i++) await mesh.tick();

  for (const channel of CHANNELS) {
    const sets = await Promise.all(
      IDS.map(async (id) =>
        (await mesh.region(id).store.listArrivals(channel, 0, 10_000)).deltas.map((d) => d.id)
          .sort()
          .join()
      ),
    );
    assert.equal(new Set(sets).size, 1, `seed ${seed}: equal ${channel} sets`);
    const views = await Promise.all(IDS.map((id) => mesh.view(id, channel)));
    assert.equal(new Set(views).size, 1, `seed ${seed}: byte-identical ${channel} views`);
  }
  const quarantined = await Promise.all(IDS.map(async (id) => {
    const page = await mesh.region(id).store.listEquivocations(0, 1_000);
    return [...new Set(page.entries.map((e) => e.author))].sort().join();
  }));
  assert.equal(new Set(quarantined).size, 1, `seed ${seed}: equal equivocation authors`);
  assert.ok(quarantined[0].length > 0, `seed ${seed}: some liar was caught`);
  const gated = await mesh.region("eu-1").store.listArrivals("gated", 0, 10_000);
  assert.ok(gated.deltas.length > 0, `seed ${seed}: some gated delta was admitted`);
  // Every key probes every region: the answers (quarantined, accepted, not admitted) agree.
  for (const key of keys) {
    const answers = [];
    for (const id of IDS) {
      const probe = body(key, "gated", 1_000 + IDS.indexOf(id), 0);
      const [r] = await mesh.push(id, [probe]) as { status: string; reason?: string }[];
      answers.push(r.reason ?? r.status);
    }
    assert.equal(new Set(answers).size, 1, `seed ${seed}: ${key.id} answered ${answers}`);
  }
}

for (const seed of [1, 2, 3, 4, 5, 6]) {
  Deno.test(`review: mesh with liars telling several stories in every channel converges (seed ${seed})`, async () => {
    await runSeed(seed);
  });
}
