/** `createVerifier()` ("auto") on Deno: native checks for small bursts, WebCrypto for larger ones. */
import assert from "node:assert/strict";
import { createVerifier, generateKeyPair, NATIVE_BURST_MAX } from "../../src/crypto/ed25519.ts";
import { signEd25519Portable } from "../../src/crypto/ed25519_sign.ts";

function triples(count: number) {
  const message = new TextEncoder().encode("burst");
  return Array.from({ length: count }, (_, i) => {
    const { secretKey, publicKey } = generateKeyPair();
    const signature = signEd25519Portable(secretKey, message);
    if (i % 3 === 0) signature[5] ^= 1; // every third is forged
    return { publicKey, signature, message, valid: i % 3 !== 0 };
  });
}

/** Counts WebCrypto's verify calls while `work` runs (pure unit test: a counting wrapper). */
async function countingWebCrypto<T>(work: () => Promise<T>): Promise<[T, number]> {
  const original = crypto.subtle.verify;
  let calls = 0;
  crypto.subtle.verify = (...args: Parameters<typeof original>) => {
    calls++;
    return original.apply(crypto.subtle, args);
  };
  try {
    return [await work(), calls];
  } finally {
    crypto.subtle.verify = original;
  }
}

Deno.test("auto checks a burst of more than NATIVE_BURST_MAX on WebCrypto, and alike", async () => {
  const verifier = createVerifier();
  assert.equal(verifier.backend, "native");
  const burst = triples(NATIVE_BURST_MAX + 1);
  const [verdicts, calls] = await countingWebCrypto(() =>
    Promise.all(burst.map((t) => verifier.verify(t.publicKey, t.signature, t.message)))
  );
  assert.deepEqual(verdicts, burst.map((t) => t.valid));
  assert.equal(calls, NATIVE_BURST_MAX + 1, "the whole burst went to WebCrypto");
});

Deno.test("auto checks bursts of NATIVE_BURST_MAX natively, counting again with each run", async () => {
  const verifier = createVerifier();
  const runs = [triples(NATIVE_BURST_MAX), triples(NATIVE_BURST_MAX)];
  const [verdicts, calls] = await countingWebCrypto(async () => {
    const out: boolean[] = [];
    for (const run of runs) {
      out.push(
        ...await Promise.all(run.map((t) => verifier.verify(t.publicKey, t.signature, t.message))),
      );
    }
    return out;
  });
  assert.deepEqual(verdicts, runs.flat().map((t) => t.valid));
  assert.equal(calls, 0, "two runs of NATIVE_BURST_MAX each stayed native");
});
