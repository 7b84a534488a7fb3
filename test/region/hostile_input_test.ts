/**
 * Hostile input at the HTTP edge that the schema tests in app_test.ts do not cover: crafted
 * signatures and keys, and nesting deep enough to break naive recursive code. None may answer
 * 500 or store anything.
 */
import assert from "node:assert/strict";
import { AgentKey } from "../../src/crypto/agent_key.ts";
import { decodeBase64Url, encodeBase64Url } from "../../src/protocol/base64url.ts";
import { createRegionApp } from "../../src/region/app.ts";
import { MemoryStore } from "../../src/store/memory_store.ts";
import { bodyOf, signBody, T0_MS } from "../support/signing.ts";

/** The group order L of ed25519, little-endian bytes. */
const L = (() => {
  let n = 2n ** 252n + 27742317777372353535851937790883648493n;
  const out = new Uint8Array(32);
  for (let i = 0; i < 32; i++, n >>= 8n) out[i] = Number(n & 255n);
  return out;
})();

function addLittleEndian(a: Uint8Array, b: Uint8Array): Uint8Array {
  const out = new Uint8Array(32);
  let carry = 0;
  for (let i = 0; i < 32; i++) {
    const s = a[i] + b[i] + carry;
    out[i] = s & 255;
    carry = s >> 8;
  }
  return out;
}

async function push(app: ReturnType<typeof createRegionApp>, deltas: unknown[]) {
  const response = await app.request("/v1/deltas", {
    method: "POST",
    headers: { "content-type": "application/json" },
    body: JSON.stringify({ deltas }),
  });
  assert.equal(response.status, 200);
  return (await response.json()).results as { status: string; reason?: string }[];
}

Deno.test("POST /v1/deltas rejects a valid signature made non-canonical (S + L) as bad_signature", async () => {
  const store = new MemoryStore();
  const app = createRegionApp({ region: "t", store, now: () => T0_MS });
  const key = AgentKey.generate();
  const good = signBody(key, JSON.stringify(bodyOf(key)));
  const sig = decodeBase64Url(good.sig)!;
  const malleated = new Uint8Array(64);
  malleated.set(sig.subarray(0, 32), 0);
  malleated.set(addLittleEndian(sig.subarray(32), L), 32);
  const [r] = await push(app, [{ body: good.body, sig: encodeBase64Url(malleated) }]);
  assert.equal(r.reason, "bad_signature");
  assert.equal((await push(app, [good]))[0].status, "accepted", "the canonical one is fine");
});

Deno.test("POST /v1/deltas rejects small-order author keys with the trivial signature for any body", async () => {
  const store = new MemoryStore();
  const app = createRegionApp({ region: "t", store, now: () => T0_MS });
  // The identity point (y = 1) and the order-2 point (y = p - 1), as 32-byte encodings.
  const identity = new Uint8Array(32);
  identity[0] = 1;
  const order2 = new Uint8Array(32).fill(0xff);
  order2[0] = 0xec;
  order2[31] = 0x7f;
  for (const point of [identity, order2]) {
    const author = encodeBase64Url(point);
    // R = the identity point's encoding, S = 0: "valid" under a verifier that skips key checks.
    const trivial = new Uint8Array(64);
    trivial[0] = 1;
    const body = JSON.stringify({ ...bodyOf(AgentKey.generate()), author });
    const [r] = await push(app, [{ body, sig: encodeBase64Url(trivial) }]);
    assert.equal(r.status, "rejected");
    assert.equal(r.reason, "bad_signature");
  }
  assert.equal(await store.logHead(), 0);
});

Deno.test("deep but valid nesting in the request, the envelope and the body never answers 500", async () => {
  const store = new MemoryStore();
  const app = createRegionApp({ region: "t", store, now: () => T0_MS });
  const deep = (n: number) => "[".repeat(n) + "]".repeat(n);
  const request = await app.request("/v1/deltas", {
    method: "POST",
    headers: { "content-type": "application/json" },
    body: `{"deltas":${deep(50_000)}}`,
  });
  assert.ok(request.status === 200 || request.status === 400, `answered ${request.status}`);
  await request.body?.cancel();
  const key = AgentKey.generate();
  const body = JSON.stringify(bodyOf(key)).replace('"value":1', `"value":${deep(9_000)}`);
  const results = await push(app, [signBody(key, body), { body: deep(5_000), sig: "x" }]);
  assert.deepEqual(results.map((r) => r.reason), ["body_too_large", "bad_signature"]);
  const smallDeep = JSON.stringify(bodyOf(key)).replace('"value":1', `"value":${deep(200)}`);
  assert.equal((await push(app, [signBody(key, smallDeep)]))[0].reason, "bad_schema");
  assert.equal(await store.logHead(), 0);
});

Deno.test("a number too large for seq, written as digits, is a schema error, not a crash", async () => {
  const store = new MemoryStore();
  const app = createRegionApp({ region: "t", store, now: () => T0_MS });
  const key = AgentKey.generate();
  for (const seq of ["1e400", "9".repeat(400), "-0", "1.0000000000000002"]) {
    const body = JSON.stringify(bodyOf(key)).replace('"seq":1', `"seq":${seq}`);
    const [r] = await push(app, [signBody(key, body)]);
    assert.equal(r.status, "rejected", seq);
    assert.equal(r.reason, "bad_schema", seq);
  }
});

Deno.test("POST /v1/deltas rejects the channel names . and .. as bad_schema and stores nothing", async () => {
  const store = new MemoryStore();
  const app = createRegionApp({ region: "t", store, now: () => T0_MS });
  const key = AgentKey.generate();
  const deltas = [".", ".."].map((channel) =>
    signBody(key, JSON.stringify(bodyOf(key, { channel })))
  );
  const results = await push(app, deltas);
  assert.deepEqual(results.map((r) => r.reason), ["bad_schema", "bad_schema"]);
  for (const channel of [".", ".."]) {
    assert.equal((await store.listArrivals(channel, 0, 10)).deltas.length, 0);
  }
  // Names that merely contain dots are ordinary channels.
  const dotted = ["...", ".a", "a.", "..b"].map((channel) =>
    signBody(key, JSON.stringify(bodyOf(key, { channel })))
  );
  assert.deepEqual((await push(app, dotted)).map((r) => r.status), Array(4).fill("accepted"));
});
