/**
 * Review of 0b0db6a (guards; they passed): the native (node:crypto) verifier must accept exactly what webcrypto and
 * noble accept. Adversarial triples: torsion on A and R, negated keys (sign bit), random
 * canonical / non-canonical R, S near 0 and L, random keys, offset/shared/resizable views, empty
 * and large messages. Also raw node:crypto createPublicKey on random rule-1 keys.
 */
import assert from "node:assert/strict";
import * as ed from "@noble/ed25519";
import { sha512 } from "@noble/hashes/sha2.js";
import fc from "fast-check";
import node from "node:crypto";
import { Buffer } from "node:buffer";
import { createVerifier, publicKeyFromSecret, signEd25519Portable } from "../../src/crypto/mod.ts";

const { Point } = ed;
const { concatBytes } = ed.etc;
const P = Point.CURVE().p;
const L = Point.CURVE().n;
const verifiers = (["native", "webcrypto", "noble"] as const).map((b) =>
  createVerifier({ backend: b })
);

const toLe = (v: bigint) => {
  const o = new Uint8Array(32);
  for (let i = 0; i < 32; i++, v >>= 8n) o[i] = Number(v & 0xffn);
  return o;
};
const fromLe = (b: Uint8Array) => {
  let v = 0n;
  for (let i = b.length - 1; i >= 0; i--) v = (v << 8n) | BigInt(b[i]);
  return v;
};
const k = (r: Uint8Array, a: Uint8Array, m: Uint8Array) => fromLe(sha512(concatBytes(r, a, m))) % L;
const scalar = (seed: Uint8Array) => ed.utils.getExtendedPublicKey(seed).scalar;
const T8 = Point.fromHex("26e8958fc2b227b045c3f489f2ef98f0d5dfac05d3c63339b13802886d53fc05");
const TORSION = Array.from({ length: 8 }, (_, i) => T8.multiplyUnsafe(BigInt(i)));

type View = "plain" | "offset" | "shared" | "sharedOffset" | "resizable";
function place(bytes: Uint8Array, how: View): Uint8Array {
  const pad = 13;
  if (how === "plain") return bytes;
  const buf = how === "shared" || how === "sharedOffset"
    ? new SharedArrayBuffer(bytes.length + 2 * pad)
    : how === "resizable"
    ? new ArrayBuffer(bytes.length + 2 * pad, { maxByteLength: bytes.length + 4 * pad + 1 })
    : new ArrayBuffer(bytes.length + 2 * pad);
  const off = how === "shared" ? 0 : pad;
  const out = new Uint8Array(buf, off, bytes.length);
  out.set(bytes);
  return out;
}

async function results(pk: Uint8Array, sig: Uint8Array, msg: Uint8Array) {
  return await Promise.all(verifiers.map((v) => v.verify(pk, sig, msg)));
}

const mutation = fc.oneof(
  fc.constant({ kind: "none" as const }),
  fc.record({ kind: fc.constant("torsion" as const), ta: fc.nat(7), tr: fc.nat(7) }),
  fc.constant({ kind: "negateA" as const }),
  fc.record({ kind: fc.constant("signFlipR" as const) }),
  fc.record({
    kind: fc.constant("randomR" as const),
    y: fc.bigInt(0n, (1n << 255n) - 1n),
    s: fc.boolean(),
  }),
  fc.record({
    kind: fc.constant("S" as const),
    s: fc.constantFrom(0n, 1n, L - 1n, L, L + 1n, 1n << 253n, (1n << 256n) - 1n),
  }),
  fc.record({
    kind: fc.constant("randomA" as const),
    a: fc.uint8Array({ minLength: 32, maxLength: 32 }),
  }),
  fc.record({
    kind: fc.constant("randomSig" as const),
    s: fc.uint8Array({ minLength: 64, maxLength: 64 }),
  }),
);
const view = fc.constantFrom<View>("plain", "offset", "shared", "sharedOffset", "resizable");

Deno.test("native, webcrypto and noble agree on adversarial triples and buffer shapes", async () => {
  let accepted = 0;
  await fc.assert(
    fc.asyncProperty(
      fc.uint8Array({ minLength: 32, maxLength: 32 }),
      fc.oneof(fc.uint8Array({ maxLength: 80 }), fc.constant(new Uint8Array(0))),
      mutation,
      view,
      view,
      view,
      async (seed, message, m, vk, vs, vm) => {
        let a = scalar(seed);
        let pk = publicKeyFromSecret(seed);
        let sig = signEd25519Portable(seed, message);
        const r = fromLe(sha512(concatBytes(ed.utils.getExtendedPublicKey(seed).prefix, message))) %
          L;
        const resign = (rBytes: Uint8Array, rr: bigint) =>
          concatBytes(rBytes, toLe(((rr + k(rBytes, pk, message) * a) % L + L) % L));
        switch (m.kind) {
          case "torsion": {
            pk = Point.fromBytes(pk).add(TORSION[m.ta]).toBytes();
            sig = resign(Point.BASE.multiply(r).add(TORSION[m.tr]).toBytes(), r);
            break;
          }
          case "negateA": {
            pk = Point.fromBytes(pk).negate().toBytes();
            a = (L - a) % L;
            sig = resign(sig.subarray(0, 32), r);
            break;
          }
          case "signFlipR": {
            const rb = sig.slice(0, 32);
            rb[31] ^= 0x80;
            sig = resign(rb, r);
            break;
          }
          case "randomR": {
            const rb = toLe(m.y);
            if (m.s) rb[31] |= 0x80;
            sig = resign(rb, r);
            break;
          }
          case "S":
            sig = concatBytes(sig.subarray(0, 32), toLe(m.s & ((1n << 256n) - 1n)));
            break;
          case "randomA":
            pk = m.a;
            break;
          case "randomSig":
            sig = m.s;
            break;
        }
        const got = await results(place(pk, vk), place(sig, vs), place(message, vm));
        if (got[2]) accepted++;
        assert.deepEqual(got, [got[2], got[2], got[2]], `${m.kind} ${JSON.stringify(got)}`);
        if (m.kind === "none" || m.kind === "negateA") assert.equal(got[2], true, m.kind);
      },
    ),
    { numRuns: 3000 },
  );
  assert.ok(accepted > 0);
});

Deno.test("native, webcrypto and noble agree on large messages (1 MiB, 16 MiB)", async () => {
  const seed = new Uint8Array(32).fill(9);
  const pk = publicKeyFromSecret(seed);
  for (const n of [1 << 20, 1 << 24]) {
    const msg = new Uint8Array(n).map((_, i) => i * 31);
    const sig = signEd25519Portable(seed, msg);
    assert.deepEqual(await results(pk, sig, msg), [true, true, true]);
    const bad = msg.slice();
    bad[n - 1] ^= 1;
    assert.deepEqual(await results(pk, sig, bad), [false, false, false]);
  }
});

Deno.test("node:crypto imports every rule-1 key as SPKI (random y, both signs, mixed order)", () => {
  const prefix = [0x30, 0x2a, 0x30, 0x05, 0x06, 0x03, 0x2b, 0x65, 0x70, 0x03, 0x21, 0x00];
  let tried = 0;
  for (let i = 0; i < 20000; i++) {
    const bytes = crypto.getRandomValues(new Uint8Array(32));
    bytes[31] &= i % 2 === 0 ? 0x7f : 0xff;
    let point;
    try {
      point = Point.fromBytes(bytes, false);
    } catch {
      continue;
    }
    if (
      fromLe(bytes.slice().map((b, j) => (j === 31 ? b & 0x7f : b))) >= P || point.isSmallOrder()
    ) continue;
    tried++;
    node.createPublicKey({
      key: Buffer.from([...prefix, ...bytes]),
      format: "der",
      type: "spki",
    });
  }
  assert.ok(tried > 5000, `${tried}`);
});
