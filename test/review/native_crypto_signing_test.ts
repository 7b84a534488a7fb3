/**
 * Review of 0b0db6a (native Ed25519): signEd25519/createSigner against noble's bytes on odd
 * inputs, and what happens when node:crypto fails or is wrapped after the probe. The review found
 * no fallback on a failing native sign, functions looked up per call on the shared module object
 * (a later wrapper changed signatures and verdicts) and native signing of what noble refuses;
 * fixed, these guard it.
 */
import assert from "node:assert/strict";
import fc from "fast-check";
import { createSigner, signEd25519, signEd25519Portable } from "../../src/crypto/ed25519_sign.ts";
import { createVerifier, generateKeyPair } from "../../src/crypto/mod.ts";
import cryptoModule from "node:crypto";

/** The module object `process.getBuiltinModule("node:crypto")` returns, writable. */
const node = cryptoModule as unknown as Record<string, (...args: unknown[]) => unknown>;

function place(bytes: Uint8Array, kind: number): Uint8Array {
  const pad = 7;
  const buf = kind === 1
    ? new SharedArrayBuffer(bytes.length + 2 * pad)
    : kind === 2
    ? new ArrayBuffer(bytes.length + 2 * pad, { maxByteLength: 4096 })
    : new ArrayBuffer(bytes.length + 2 * pad);
  const out = new Uint8Array(buf, kind === 3 ? 0 : pad, bytes.length);
  out.set(bytes);
  return out;
}

Deno.test("signEd25519/createSigner equal noble for seed and message views of every kind", async () => {
  await fc.assert(
    fc.asyncProperty(
      fc.uint8Array({ minLength: 32, maxLength: 32 }),
      fc.uint8Array({ maxLength: 100 }),
      fc.nat(3),
      fc.nat(3),
      async (seed, msg, ks, km) => {
        const s = place(seed, ks), m = place(msg, km);
        const want = signEd25519Portable(seed, msg);
        assert.deepEqual(signEd25519(s, m), want);
        assert.deepEqual(await createSigner(s)(m), want);
        assert.deepEqual(await createSigner(s, { native: false })(m), want);
      },
    ),
    { numRuns: 300 },
  );
});

Deno.test("review (guard): signEd25519 accepts what noble refuses (a Uint16Array message)", () => {
  const seed = new Uint8Array(32).fill(1);
  const odd = new Uint16Array([0x6261]) as unknown as Uint8Array;
  assert.throws(() => signEd25519Portable(seed, odd));
  assert.throws(() => signEd25519(seed, odd), "native signs it instead of throwing as noble");
});

Deno.test("review (guard): a node:crypto sign failing after the probe: no fallback to noble", async () => {
  const seed = new Uint8Array(32).fill(2);
  const msg = new TextEncoder().encode("m");
  const signer = createSigner(seed);
  const original = node.sign;
  node.sign = () => {
    throw new Error("node:crypto broke mid-run");
  };
  try {
    let sync: unknown = null;
    let p: Promise<Uint8Array> | null = null;
    try {
      p = signer(msg);
    } catch (e) {
      sync = e;
    }
    assert.equal(sync, null, "createSigner's signer threw synchronously instead of rejecting");
    assert.deepEqual(await p, signEd25519Portable(seed, msg), "no fallback to noble");
  } finally {
    node.sign = original;
  }
});

Deno.test("review (guard): node:crypto is late-bound on a shared, writable module object", async () => {
  const seed = new Uint8Array(32).fill(3);
  const msg = new TextEncoder().encode("m");
  const signer = createSigner(seed);
  const original = node.sign;
  // Any in-process code (a dependency, an instrumentation) that wraps crypto.sign is trusted
  // after the load-time probe; here the wrapper corrupts one byte.
  node.sign = (...args: unknown[]) => {
    const out = new Uint8Array(original.apply(node, args) as Uint8Array);
    out[0] ^= 1;
    return out;
  };
  try {
    assert.deepEqual(await signer(msg), signEd25519Portable(seed, msg));
  } finally {
    node.sign = original;
  }
});
Deno.test("review (guard): a wrapper on node:crypto.verify after the probe changes what the native verifier accepts", async () => {
  const v = createVerifier({ backend: "native" });
  const { publicKey } = generateKeyPair();
  const original = node.verify;
  node.verify = () => true; // e.g. an in-process dependency wrapping crypto
  try {
    const forged = new Uint8Array(64); // R = 0..0 (y=0 < p), S = 0: passes rules 2-3
    assert.equal(await v.verify(publicKey, forged, new Uint8Array([1])), false);
  } finally {
    node.verify = original;
  }
});
