import assert from "node:assert/strict";
import fc from "fast-check";
import { generateKeyPair, verifyEd25519 } from "../../src/crypto/ed25519.ts";
import { createSigner, signEd25519, signEd25519Portable } from "../../src/crypto/ed25519_sign.ts";
import { AgentKey } from "../../src/crypto/agent_key.ts";

const seedAndMessage = [fc.uint8Array({ minLength: 32, maxLength: 32 }), fc.uint8Array()] as const;

Deno.test("signEd25519() signs every message to the same bytes as noble", () => {
  fc.assert(
    fc.property(...seedAndMessage, (seed, message) => {
      assert.deepEqual(signEd25519(seed, message), signEd25519Portable(seed, message));
    }),
    { numRuns: 300 },
  );
});

Deno.test("signEd25519() throws on a seed of the wrong length, as noble does", () => {
  for (const length of [0, 31, 33, 64]) {
    assert.throws(() => signEd25519(new Uint8Array(length), new Uint8Array(1)));
  }
});

for (const native of [true, false]) {
  const via = native ? "node:crypto" : "WebCrypto";
  Deno.test(`createSigner() on ${via} signs every message to the same bytes as noble`, async () => {
    await fc.assert(
      fc.asyncProperty(...seedAndMessage, async (seed, message) => {
        const signature = await createSigner(seed, { native })(message);
        assert.deepEqual(signature, signEd25519Portable(seed, message));
      }),
      { numRuns: 200 },
    );
  });

  Deno.test(`createSigner() on ${via} signs views into SharedArrayBuffers and offset views`, async () => {
    const { secretKey, publicKey } = generateKeyPair();
    const shared = new Uint8Array(new SharedArrayBuffer(40));
    shared.set(new TextEncoder().encode("a message in shared memory"), 4);
    const view = shared.subarray(4, 30);
    const signature = await createSigner(secretKey, { native })(view);
    assert.deepEqual(signature, signEd25519Portable(secretKey, view));
    assert.equal(await verifyEd25519(publicKey, signature, new Uint8Array(view)), true);
  });

  Deno.test(`createSigner() on ${via} resolves signatures in the order they were asked for`, async () => {
    const signer = createSigner(generateKeyPair().secretKey, { native });
    const order: number[] = [];
    // Long and short messages interleaved: a later short one must not overtake an earlier long one.
    const signs = Array.from({ length: 200 }, (_, i) => {
      const message = new Uint8Array(i % 2 === 0 ? 1 << 20 : 8).fill(i);
      return signer(message).then(() => order.push(i));
    });
    await Promise.all(signs);
    assert.deepEqual(order, [...order].sort((a, b) => a - b));
  });
}

Deno.test("createSigner() falls back to noble where WebCrypto cannot sign Ed25519", async () => {
  const { secretKey } = generateKeyPair();
  const message = new TextEncoder().encode("signed without WebCrypto");
  const original = crypto.subtle.sign;
  // A runtime without Ed25519 signing (pure unit test: the stubs in this file).
  crypto.subtle.sign = () => Promise.reject(new DOMException("unsupported", "NotSupportedError"));
  try {
    const signature = await createSigner(secretKey, { native: false })(message);
    assert.deepEqual(signature, signEd25519Portable(secretKey, message));
  } finally {
    crypto.subtle.sign = original;
  }
});

Deno.test("createSigner() falls back to noble where WebCrypto signs to other bytes", async () => {
  const { secretKey } = generateKeyPair();
  const message = new TextEncoder().encode("signed by a disagreeing WebCrypto");
  const original = crypto.subtle.sign;
  crypto.subtle.sign = () => Promise.resolve(new Uint8Array(64).buffer);
  try {
    const signature = await createSigner(secretKey, { native: false })(message);
    assert.deepEqual(signature, signEd25519Portable(secretKey, message));
  } finally {
    crypto.subtle.sign = original;
  }
});

Deno.test("AgentKey.signAsync() gives what AgentKey.sign() gives", async () => {
  const key = AgentKey.generate();
  for (const text of ["", "one", "x".repeat(10_000)]) {
    const message = new TextEncoder().encode(text);
    assert.deepEqual(await key.signAsync(message), key.sign(message));
  }
});
