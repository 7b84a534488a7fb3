import assert from "node:assert/strict";
import { ed25519, x25519 } from "@noble/curves/ed25519.js";
import { sha512 } from "@noble/hashes/sha2.js";
import { bytesToHex, hexToBytes } from "@noble/hashes/utils.js";
import { Aes128Gcm, CipherSuite, DhkemX25519HkdfSha256, HkdfSha256 } from "@hpke/core";
import fc from "fast-check";
import {
  AgentKey,
  openSealed,
  SEALED_CT_BYTES_MAX,
  SEALED_CT_CHARS_MAX,
  SEALED_PLAINTEXT_BYTES_MAX,
  SealedMessageError,
  type SealedMessageRejectReason,
  sealFor,
  x25519PublicFromEd25519,
  x25519SecretFromEd25519Seed,
} from "../../src/crypto/mod.ts";
import { decodeBase64Url, encodeBase64Url } from "../../src/protocol/base64url.ts";

/** RFC 8032 section 7.1, TEST 1. */
const RFC8032_SEED = "9d61b19deffd5a60ba844af492ec2cc44449c5697b326919703bac031cae7f60";
const RFC8032_PUBLIC = "d75a980182b10ab7d54bfed3c964073a0ee172f3daa62325af021a68f707511a";

/** The canonical encodings of the eight points of small order. */
const SMALL_ORDER_POINTS = [
  "0100000000000000000000000000000000000000000000000000000000000000", // identity
  "ecffffffffffffffffffffffffffffffffffffffffffffffffffffffffffff7f", // order 2
  "0000000000000000000000000000000000000000000000000000000000000000", // order 4
  "0000000000000000000000000000000000000000000000000000000000000080", // order 4
  "c7176a703d4dd84fba3c0b760d10670f2a2053fa2c39ccc64ec7fd7792ac037a", // order 8
  "c7176a703d4dd84fba3c0b760d10670f2a2053fa2c39ccc64ec7fd7792ac03fa", // order 8
  "26e8958fc2b227b045c3f489f2ef98f0d5dfac05d3c63339b13802886d53fc05", // order 8
  "26e8958fc2b227b045c3f489f2ef98f0d5dfac05d3c63339b13802886d53fc85", // order 8
];
/** y = p, a non-canonical encoding of y = 0; and y = 2, which is on no point of the curve. */
const NOT_CANONICAL_POINTS = [
  "edffffffffffffffffffffffffffffffffffffffffffffffffffffffffffff7f",
  "0200000000000000000000000000000000000000000000000000000000000000",
];

const utf8 = new TextEncoder();
const suite = new CipherSuite({
  kem: new DhkemX25519HkdfSha256(),
  kdf: new HkdfSha256(),
  aead: new Aes128Gcm(),
});
const alice = AgentKey.generate();
const bob = AgentKey.generate();
const mallory = AgentKey.generate();

async function assertRefused(opening: Promise<unknown>, reason: SealedMessageRejectReason) {
  await assert.rejects(opening, (error) => {
    assert.ok(error instanceof SealedMessageError && error instanceof TypeError);
    assert.equal(error.reason, reason);
    return true;
  });
}

/** `text` (base64url) with the byte at `index` xor-ed by `mask`. */
function flipByte(text: string, index: number, mask = 1): string {
  const bytes = decodeBase64Url(text)!;
  bytes[index] ^= mask;
  return encodeBase64Url(bytes);
}

Deno.test("x25519SecretFromEd25519Seed() is SHA-512 of the seed, first 32 bytes clamped", () => {
  fc.assert(
    fc.property(fc.uint8Array({ minLength: 32, maxLength: 32 }), (seed) => {
      const expected = sha512(seed).slice(0, 32);
      expected[0] &= 248;
      expected[31] = (expected[31] & 127) | 64;
      const secret = x25519SecretFromEd25519Seed(seed);
      assert.deepEqual(secret, expected);
      assert.equal(secret.buffer.byteLength, 32);
    }),
    { numRuns: 50 },
  );
});

Deno.test("x25519PublicFromEd25519() maps the RFC 8032 test key 1 to X25519 of its derived secret", () => {
  const seed = hexToBytes(RFC8032_SEED);
  const publicKey = hexToBytes(RFC8032_PUBLIC);
  assert.equal(bytesToHex(ed25519.getPublicKey(seed)), RFC8032_PUBLIC);
  const secret = x25519SecretFromEd25519Seed(seed);
  assert.equal(
    bytesToHex(secret),
    "307c83864f2833cb427a2ef1c00a013cfdff2768d980c0a3a520f006904de94f",
  );
  const mapped = x25519PublicFromEd25519(publicKey);
  assert.equal(bytesToHex(mapped), bytesToHex(x25519.getPublicKey(secret)));
  assert.equal(
    bytesToHex(mapped),
    "d85e07ec22b0ad881537c2f44d662d1a143cf830c57aca4305d85c7a90f6b62e",
  );
});

Deno.test("x25519PublicFromEd25519() of an Ed25519 public key is X25519 of the derived secret", () => {
  fc.assert(
    fc.property(fc.uint8Array({ minLength: 32, maxLength: 32 }), (seed) => {
      const mapped = x25519PublicFromEd25519(ed25519.getPublicKey(seed));
      assert.deepEqual(mapped, x25519.getPublicKey(x25519SecretFromEd25519Seed(seed)));
    }),
    { numRuns: 50 },
  );
});

Deno.test("x25519PublicFromEd25519() refuses small-order, non-canonical and wrong-length keys", () => {
  for (const hex of [...SMALL_ORDER_POINTS, ...NOT_CANONICAL_POINTS]) {
    assert.throws(() => x25519PublicFromEd25519(hexToBytes(hex)), TypeError, hex);
  }
  assert.throws(() => x25519PublicFromEd25519(new Uint8Array(31)), TypeError);
  assert.throws(() => x25519PublicFromEd25519(new Uint8Array(33)), TypeError);
});

Deno.test("AgentKey.x25519SecretKey() returns a fresh copy of the secret derived from the seed", () => {
  const key = AgentKey.fromSecret(encodeBase64Url(hexToBytes(RFC8032_SEED)));
  const secret = key.x25519SecretKey();
  assert.deepEqual(secret, x25519SecretFromEd25519Seed(hexToBytes(RFC8032_SEED)));
  secret.fill(0);
  assert.notDeepEqual(key.x25519SecretKey(), secret);
  assert.equal(key.id, encodeBase64Url(hexToBytes(RFC8032_PUBLIC)));
});

Deno.test("@hpke/core imports AgentKey.x25519SecretKey() as exactly that X25519 secret", async () => {
  const privateKey = await suite.kem.deserializePrivateKey(bob.x25519SecretKey());
  const jwk = await crypto.subtle.exportKey("jwk", privateKey);
  assert.deepEqual(decodeBase64Url(jwk.d!), bob.x25519SecretKey());
  assert.deepEqual(decodeBase64Url(jwk.x!), x25519PublicFromEd25519(decodeBase64Url(bob.id)!));
});

Deno.test("@hpke/core opens the RFC 9180 A.1 vector from a raw X25519 secret", async () => {
  const recipientKey = await suite.kem.deserializePrivateKey(
    hexToBytes("4612c550263fc8ad58375df3f557aac531d26850903e55a9f23f21d8534e8ac8"),
  );
  const plaintext = await suite.open(
    {
      recipientKey,
      enc: hexToBytes("37fda3567bdbd628e88668c3c8d7e97d1d1253b6d4ea6d44c150f741f1bf4431"),
      info: utf8.encode("Ode on a Grecian Urn"),
    },
    hexToBytes(
      "f938558b5d72f1a23810b4be2ab4f84331acc02fc97babc53a52ae8218a355a96d8770ac83d07bea87e13c512a",
    ),
    utf8.encode("Count-0"),
  );
  assert.equal(new TextDecoder().decode(plaintext), "Beauty is truth, truth beauty");
});

Deno.test("openSealed() opens what sealFor() sealed, with a fresh enc each time", async () => {
  const plaintext = utf8.encode("meet at the eu-1 region at noon");
  const first = await sealFor(bob.id, alice.id, plaintext);
  const second = await sealFor(bob.id, alice.id, plaintext);
  assert.equal(first.enc.length, 43);
  assert.equal(decodeBase64Url(first.ct)!.length, plaintext.length + 16);
  assert.notEqual(first.enc, second.enc);
  assert.deepEqual(await openSealed(bob, alice.id, first.enc, first.ct), plaintext);
  assert.deepEqual(await openSealed(bob, alice.id, second.enc, second.ct), plaintext);
  const empty = await sealFor(bob.id, alice.id, new Uint8Array(0));
  assert.deepEqual(await openSealed(bob, alice.id, empty.enc, empty.ct), new Uint8Array(0));
});

Deno.test("sealFor() uses the documented info and aad bytes", async () => {
  const sealed = await sealFor(bob.id, alice.id, utf8.encode("hi"));
  const info = utf8.encode("mesh.message.v1 hpke");
  const aad = utf8.encode(`mesh.message.v1|${alice.id}|${bob.id}`);
  assert.equal(aad.length, 103);
  const recipientKey = await suite.kem.deserializePrivateKey(bob.x25519SecretKey());
  const enc = decodeBase64Url(sealed.enc)!;
  const opened = await suite.open({ recipientKey, enc, info }, decodeBase64Url(sealed.ct)!, aad);
  assert.equal(new TextDecoder().decode(opened), "hi");
  const recipientPublicKey = await suite.kem.deserializePublicKey(
    x25519PublicFromEd25519(decodeBase64Url(bob.id)!),
  );
  const byHand = await suite.seal({ recipientPublicKey, info }, utf8.encode("hello"), aad);
  const text = await openSealed(
    bob,
    alice.id,
    encodeBase64Url(new Uint8Array(byHand.enc)),
    encodeBase64Url(new Uint8Array(byHand.ct)),
  );
  assert.equal(new TextDecoder().decode(text), "hello");
});

Deno.test("openSealed() refuses a message sealed to another agent", async () => {
  const sealed = await sealFor(bob.id, alice.id, utf8.encode("for bob only"));
  await assertRefused(openSealed(mallory, alice.id, sealed.enc, sealed.ct), "undecryptable");
  await assertRefused(openSealed(alice, alice.id, sealed.enc, sealed.ct), "undecryptable");
});

Deno.test("openSealed() refuses a tampered ct or enc", async () => {
  const sealed = await sealFor(bob.id, alice.id, utf8.encode("do not touch"));
  const ctBytes = decodeBase64Url(sealed.ct)!.length;
  for (const index of [0, 5, ctBytes - 16, ctBytes - 1]) {
    const ct = flipByte(sealed.ct, index);
    await assertRefused(openSealed(bob, alice.id, sealed.enc, ct), "undecryptable");
  }
  for (const index of [0, 17, 31]) {
    const enc = flipByte(sealed.enc, index, 0x10);
    await assertRefused(openSealed(bob, alice.id, enc, sealed.ct), "undecryptable");
  }
  const truncated = encodeBase64Url(decodeBase64Url(sealed.ct)!.subarray(0, ctBytes - 1));
  await assertRefused(openSealed(bob, alice.id, sealed.enc, truncated), "undecryptable");
});

Deno.test("openSealed() refuses enc and ct copied under another author", async () => {
  const sealed = await sealFor(bob.id, alice.id, utf8.encode("from alice"));
  await assertRefused(openSealed(bob, mallory.id, sealed.enc, sealed.ct), "undecryptable");
  assert.deepEqual(
    await openSealed(bob, alice.id, sealed.enc, sealed.ct),
    utf8.encode("from alice"),
  );
});

Deno.test("sealFor() seals SEALED_PLAINTEXT_BYTES_MAX bytes and refuses one byte more", async () => {
  const plaintext = crypto.getRandomValues(new Uint8Array(SEALED_PLAINTEXT_BYTES_MAX));
  const sealed = await sealFor(bob.id, alice.id, plaintext);
  assert.equal(decodeBase64Url(sealed.ct)!.length, SEALED_CT_BYTES_MAX);
  assert.equal(sealed.ct.length, SEALED_CT_CHARS_MAX);
  assert.deepEqual(await openSealed(bob, alice.id, sealed.enc, sealed.ct), plaintext);
  await assert.rejects(
    sealFor(bob.id, alice.id, new Uint8Array(SEALED_PLAINTEXT_BYTES_MAX + 1)),
    TypeError,
  );
});

Deno.test("sealFor() refuses a recipient id that is not an acceptable Ed25519 point", async () => {
  const plaintext = utf8.encode("to nobody");
  for (const hex of [...SMALL_ORDER_POINTS, ...NOT_CANONICAL_POINTS]) {
    const id = encodeBase64Url(hexToBytes(hex));
    await assert.rejects(sealFor(id, alice.id, plaintext), TypeError, hex);
  }
  for (const id of ["", bob.id.slice(1), `${bob.id}A`, `${bob.id.slice(0, 42)}+`]) {
    await assert.rejects(sealFor(id, alice.id, plaintext), TypeError, id);
  }
  await assert.rejects(sealFor(bob.id, "alice", plaintext), TypeError);
});

Deno.test("openSealed() refuses malformed author ids, enc and ct before decrypting", async () => {
  const { enc, ct } = await sealFor(bob.id, alice.id, utf8.encode("well formed"));
  const cases: [string, string, string][] = [
    ["alice", enc, ct],
    [`${alice.id.slice(0, 42)}|`, enc, ct],
    [alice.id, enc.slice(0, 42), ct],
    [alice.id, `${enc.slice(0, 42)}=`, ct],
    [alice.id, encodeBase64Url(new Uint8Array(31)), ct],
    [alice.id, enc, encodeBase64Url(new Uint8Array(15))],
    [alice.id, enc, `${ct.slice(0, -1)}*`],
    [alice.id, enc, "A".repeat(SEALED_CT_CHARS_MAX + 2)],
  ];
  for (const [authorId, badEnc, badCt] of cases) {
    await assertRefused(openSealed(bob, authorId, badEnc, badCt), "malformed");
  }
});
