import assert from "node:assert/strict";
import { AgentKey } from "../../src/crypto/agent_key.ts";
import type { Envelope } from "../../src/client/mesh_client.ts";
import { encodeBase64Url } from "../../src/protocol/base64url.ts";
import { parseEnvelope } from "../../src/protocol/envelope.ts";
import { certificateMessage, CERTIFICATES_CHANNEL } from "../../src/protocol/certificate.ts";
import { type AdmissionPolicy, parseAdmission } from "../../src/guard/admission.ts";
import { createRegionApp } from "../../src/region/app.ts";
import { regionConfig } from "../../src/compose/config.ts";
import { openRegion } from "../../src/compose/open_region.ts";
import { denoHost } from "../../src/adapters/deno.ts";
import { MemoryStore } from "../../src/store/memory_store.ts";
import { InProcessMesh } from "../support/in_process_mesh.ts";
import { bodyOf, signBody, T0_MS } from "../support/signing.ts";

const operator = AgentKey.generate();

function policy(file: Record<string, unknown>): AdmissionPolicy {
  return parseAdmission(JSON.stringify({ v: 1, ...file }), "test.json");
}

function region(admission?: AdmissionPolicy) {
  return createRegionApp({
    region: "test-1",
    store: new MemoryStore(),
    now: () => T0_MS,
    admission,
  });
}

type App = ReturnType<typeof region>;

async function push(app: App, deltas: unknown[]) {
  const response = await app.request("/v1/deltas", {
    method: "POST",
    headers: { "content-type": "application/json" },
    body: JSON.stringify({ deltas }),
  });
  assert.equal(response.status, 200, await response.clone().text());
  return (await response.json()).results as { status: string; reason?: string }[];
}

const statuses = (results: { status: string; reason?: string }[]) =>
  results.map((r) => r.reason ?? r.status);

/** A signed delta of `key` in `channel` with overrides. */
function signed(key: AgentKey, channel: string, overrides: Record<string, unknown> = {}): Envelope {
  return signBody(key, JSON.stringify(bodyOf(key, { channel, ...overrides })));
}

/** A `_certificates` delta, published by a fresh key, holding `signer`'s certificate. */
function certificate(
  author: AgentKey,
  channels: string[],
  expires: number,
  signer = operator,
): Envelope {
  const body = JSON.stringify({ v: 1, author: author.id, channels, expires });
  const sig = encodeBase64Url(signer.sign(certificateMessage(body)));
  const publisher = AgentKey.generate();
  return signed(publisher, CERTIFICATES_CHANNEL, {
    ops: [{ op: "set", key: author.id, value: { body, sig } }],
  });
}

Deno.test("ingest() with no admission file admits every author in every channel", async () => {
  const app = region();
  assert.deepEqual(statuses(await push(app, [signed(AgentKey.generate(), "any")])), ["accepted"]);
});

Deno.test("ingest() with an open default admits every author", async () => {
  const app = region(policy({ default: "open" }));
  assert.deepEqual(statuses(await push(app, [signed(AgentKey.generate(), "any")])), ["accepted"]);
});

Deno.test("ingest() under an allowlist admits listed authors only", async () => {
  const listed = AgentKey.generate();
  const app = region(policy({
    channels: [{ match: "team", policy: "allowlist", authors: [listed.id] }],
  }));
  assert.deepEqual(
    statuses(await push(app, [signed(listed, "team"), signed(AgentKey.generate(), "team")])),
    ["accepted", "not_admitted"],
  );
  const stored = await (await app.request("/v1/channels/team")).json();
  assert.equal(stored.deltas, 1);
});

Deno.test("ingest() matches channel rules exactly or by prefix*, first match winning", async () => {
  const listed = AgentKey.generate();
  const other = AgentKey.generate();
  const app = region(policy({
    default: "allowlist",
    channels: [
      { match: "ops:public", policy: "open" },
      { match: "ops:*", policy: "allowlist", authors: [listed.id] },
      { match: "chat", policy: "open" },
    ],
  }));
  assert.deepEqual(
    statuses(
      await push(app, [
        signed(other, "ops:public"),
        signed(other, "ops:secret"),
        signed(listed, "ops:secret"),
        signed(other, "chat"),
        signed(other, "chat2", { seq: 2 }),
        signed(other, "ops", { seq: 3 }),
      ]),
    ),
    ["accepted", "not_admitted", "accepted", "accepted", "not_admitted", "not_admitted"],
  );
});

Deno.test("ingest() under a certificate policy refuses an author without a certificate", async () => {
  const app = region(policy({ operators: [operator.id], default: "certificate" }));
  assert.deepEqual(statuses(await push(app, [signed(AgentKey.generate(), "c")])), [
    "not_admitted",
  ]);
});

Deno.test("ingest() admits by a published certificate only deltas whose ts is below expires", async () => {
  const app = region(policy({ operators: [operator.id], default: "certificate" }));
  const author = AgentKey.generate();
  const expires = T0_MS + 10;
  assert.deepEqual(statuses(await push(app, [certificate(author, ["room:*"], expires)])), [
    "accepted",
  ]);
  assert.deepEqual(
    statuses(
      await push(app, [
        signed(author, "room:1", { ts: expires - 1 }),
        signed(author, "room:2", { ts: expires }),
        signed(author, "hall", { seq: 2, ts: expires - 1 }),
        signed(AgentKey.generate(), "room:1", { ts: expires - 1 }),
      ]),
    ),
    ["accepted", "not_admitted", "not_admitted", "not_admitted"],
  );
});

Deno.test("ingest() admits a delta by a certificate earlier in the same batch", async () => {
  const app = region(policy({ operators: [operator.id], default: "certificate" }));
  const author = AgentKey.generate();
  assert.deepEqual(
    statuses(await push(app, [certificate(author, ["c"], T0_MS + 1), signed(author, "c")])),
    ["accepted", "accepted"],
  );
});

Deno.test("ingest() rejects a certificate not signed by an operator as bad_certificate", async () => {
  const app = region(policy({ operators: [operator.id], default: "certificate" }));
  const author = AgentKey.generate();
  const forged = certificate(author, ["c"], T0_MS + 1, AgentKey.generate());
  assert.deepEqual(statuses(await push(app, [forged, signed(author, "c")])), [
    "bad_certificate",
    "not_admitted",
  ]);
  // Without an admission file no key is an operator.
  assert.deepEqual(statuses(await push(region(), [certificate(author, ["c"], T0_MS + 1)])), [
    "bad_certificate",
  ]);
});

Deno.test("ingest() rejects anything but certificates in _certificates as bad_certificate", async () => {
  const app = region();
  const key = AgentKey.generate();
  for (
    const ops of [
      [{ op: "inc", counter: "n", by: 1 }],
      [{ op: "set", key: key.id, value: 1 }],
      [{ op: "set", key: "k", value: { body: "{}", sig: "x" } }],
    ]
  ) {
    assert.deepEqual(statuses(await push(app, [signed(key, CERTIFICATES_CHANNEL, { ops })])), [
      "bad_certificate",
    ]);
  }
});

Deno.test("parseAdmission() names the invalid field", () => {
  const cases: [Record<string, unknown>, RegExp][] = [
    [{ default: "closed" }, /invalid: default:/],
    [{ operators: ["nope"] }, /invalid: operators\.0:/],
    [{ default: "certificate" }, /invalid: operators: must list at least one operator/],
    [{ channels: [{ match: "_equivocations", policy: "open" }] }, /invalid: channels\.0\.match:/],
    [{ channels: [{ match: "a*b", policy: "open" }] }, /invalid: channels\.0\.match:/],
    [{ channels: [{ match: "a", policy: "allowlist" }] }, /invalid: channels\.0\.authors:/],
    [{ channels: [{ match: "a", policy: "open", extra: 1 }] }, /invalid: channels\.0:/],
    [{ operators: Array(9).fill(operator.id) }, /invalid: operators:/],
  ];
  for (const [file, message] of cases) {
    assert.throws(
      () => policy(file),
      (e: Error) => e instanceof TypeError && message.test(e.message),
    );
  }
  assert.throws(() => parseAdmission("{", "x.json"), /MESH_ADMISSION x\.json is invalid: not JSON/);
});

Deno.test("openRegion() refuses to start with an invalid MESH_ADMISSION file", async () => {
  const dir = await Deno.makeTempDir();
  try {
    const path = `${dir}/admission.json`;
    await Deno.writeTextFile(path, JSON.stringify({ v: 1, channels: [{ match: "x" }] }));
    const config = regionConfig({ MESH_DATA: dir, MESH_ADMISSION: path });
    await assert.rejects(
      openRegion(config, denoHost),
      /Cannot start region as MESH_ADMISSION .*admission\.json is invalid: channels\.0\.policy:/,
    );
    await assert.rejects(
      openRegion(
        regionConfig({ MESH_DATA: dir, MESH_ADMISSION: `${dir}/missing.json` }),
        denoHost,
      ),
      /MESH_ADMISSION .*missing\.json cannot be read/,
    );
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("admission: a certificate replicates and every region admits and refuses relayed deltas alike", async () => {
  const layout = [
    { id: "eu-1", zone: "eu" },
    { id: "eu-2", zone: "eu" },
    { id: "us-1", zone: "us" },
  ];
  const admission = policy({
    operators: [operator.id],
    channels: [{ match: "room", policy: "certificate" }],
  });
  const mesh = new InProcessMesh(layout, { admission });
  const settled = async (ticks = 8) => {
    for (let i = 0; i < ticks; i++) await mesh.tick();
  };
  await settled();
  const author = AgentKey.generate();
  const expires = mesh.nowMs + 1_000;
  assert.deepEqual(statuses(await mesh.push("eu-1", [certificate(author, ["room"], expires)])), [
    "accepted",
  ]);
  await settled(4);
  const admitted = signed(author, "room", { ts: expires - 1 });
  assert.deepEqual(statuses(await mesh.push("eu-2", [admitted])), ["accepted"]);
  await settled(4);
  await mesh.antiEntropy();
  for (const r of layout) {
    const held = await mesh.region(r.id).store.listArrivals(CERTIFICATES_CHANNEL, 0, 10);
    assert.equal(held.deltas.length, 1, r.id);
    assert.equal(JSON.parse(await mesh.view(r.id, "room")).deltas, 1, r.id);
    // Every region decides by the delta's ts, whatever its own clock says.
    const late = signed(author, "room", { seq: 2, ts: expires });
    assert.deepEqual(statuses(await mesh.push(r.id, [late])), ["not_admitted"], r.id);
  }
  // A region that stored a delta the policy refuses (as a faulty one might) cannot make the
  // others take it: relayed and repaired deltas are judged like pushed ones.
  const sneaked = parseEnvelope(signed(author, "room", { seq: 3, ts: expires }), mesh.nowMs);
  assert.ok(sneaked.ok);
  const { id, channel, seq, body, sig } = sneaked.delta;
  await mesh.region("eu-1").store.putDeltas(
    [{ id, channel, author: author.id, seq, body, sig }],
    "agent",
  );
  mesh.region("eu-1").node.kick();
  await settled(4);
  await mesh.antiEntropy();
  assert.equal(JSON.parse(await mesh.view("eu-1", "room")).deltas, 2);
  for (const r of ["eu-2", "us-1"]) {
    assert.equal(JSON.parse(await mesh.view(r, "room")).deltas, 1, r);
  }
  const views = await Promise.all(["eu-2", "us-1"].map((r) => mesh.view(r, "room")));
  assert.equal(new Set(views).size, 1, "identical room views");
});
