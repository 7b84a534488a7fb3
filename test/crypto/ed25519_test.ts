import assert from "node:assert/strict";
import * as ed from "@noble/ed25519";
import { sha512 } from "@noble/hashes/sha2.js";
import fc from "fast-check";
import {
  createVerifier,
  generateKeyPair,
  KEY_CACHE_ENTRIES_MAX,
  publicKeyFromSecret,
  signEd25519,
  type Verifier,
  verifyEd25519,
} from "../../src/crypto/mod.ts";

const { Point } = ed;
const { bytesToHex, hexToBytes, concatBytes } = ed.etc;
const P = Point.CURVE().p;
const L = Point.CURVE().n;

const native = createVerifier({ backend: "native" });
const webcrypto = createVerifier({ backend: "webcrypto" });
const noble = createVerifier({ backend: "noble" });
const backends: readonly Verifier[] = [native, webcrypto, noble];

function toLe(value: bigint): Uint8Array {
  const out = new Uint8Array(32);
  for (let i = 0; i < 32; i++, value >>= 8n) out[i] = Number(value & 0xffn);
  return out;
}

function fromLe(bytes: Uint8Array): bigint {
  let value = 0n;
  for (let i = bytes.length - 1; i >= 0; i--) {
    value = (value << 8n) | BigInt(bytes[i]);
  }
  return value;
}

/** Point encoding with an arbitrary (possibly non-canonical) y and sign bit. */
function encodeY(y: bigint, signBit: 0 | 1): Uint8Array {
  const out = toLe(y);
  out[31] |= signBit << 7;
  return out;
}

/** k = SHA-512(R || A || M) mod L over the bytes as given. */
function challenge(
  r: Uint8Array,
  publicKey: Uint8Array,
  message: Uint8Array,
): bigint {
  return fromLe(sha512(concatBytes(r, publicKey, message))) % L;
}

/** The secret scalar a of a seed, so tests can craft S = r + k*a for any R and A bytes. */
function secretScalar(secretKey: Uint8Array): bigint {
  return ed.utils.getExtendedPublicKey(secretKey).scalar;
}

/** The deterministic nonce r that signEd25519() uses for this key and message. */
function signingNonce(secretKey: Uint8Array, message: Uint8Array): bigint {
  const { prefix } = ed.utils.getExtendedPublicKey(secretKey);
  return fromLe(sha512(concatBytes(prefix, message))) % L;
}

/** A signature R || S with S = r + k*a, where k is computed over the given R and A bytes. */
function craft(
  rBytes: Uint8Array,
  r: bigint,
  a: bigint,
  publicKey: Uint8Array,
  message: Uint8Array,
): Uint8Array {
  const s = (r + challenge(rBytes, publicKey, message) * a) % L;
  return concatBytes(rBytes, toLe(s));
}

async function verifyBoth(
  publicKey: Uint8Array,
  signature: Uint8Array,
  message: Uint8Array,
) {
  const [viaNative, viaWebCrypto, viaNoble] = await Promise.all(
    backends.map((v) => v.verify(publicKey, signature, message)),
  );
  return { viaNative, viaWebCrypto, viaNoble };
}

async function assertBoth(
  expected: boolean,
  publicKey: Uint8Array,
  signature: Uint8Array,
  message: Uint8Array,
  label: string,
) {
  const { viaNative, viaWebCrypto, viaNoble } = await verifyBoth(
    publicKey,
    signature,
    message,
  );
  assert.equal(viaNative, expected, `native: ${label}`);
  assert.equal(viaWebCrypto, expected, `webcrypto: ${label}`);
  assert.equal(viaNoble, expected, `noble: ${label}`);
}

/** Raw WebCrypto without this module's pre-checks; null if the import itself fails. */
async function rawWebCrypto(
  publicKey: Uint8Array,
  signature: Uint8Array,
  message: Uint8Array,
) {
  try {
    const key = await crypto.subtle.importKey(
      "raw",
      new Uint8Array(publicKey),
      "Ed25519",
      false,
      ["verify"],
    );
    return await crypto.subtle.verify(
      "Ed25519",
      key,
      new Uint8Array(signature),
      new Uint8Array(message),
    );
  } catch {
    return null;
  }
}

/** Raw noble strict verify (cofactored); false if it throws. */
function rawNobleStrict(
  publicKey: Uint8Array,
  signature: Uint8Array,
  message: Uint8Array,
) {
  try {
    return ed.verify(signature, message, publicKey, { zip215: false });
  } catch {
    return false;
  }
}

function flipBit(bytes: Uint8Array, bit: number): Uint8Array {
  const out = bytes.slice();
  out[bit >> 3] ^= 1 << (bit & 7);
  return out;
}

// RFC 8032 section 7.1, hex exactly as printed there (long values wrapped by line).
const RFC8032_VECTORS = [
  {
    name: "TEST 1",
    secretKey: "9d61b19deffd5a60ba844af492ec2cc4" +
      "4449c5697b326919703bac031cae7f60",
    publicKey: "d75a980182b10ab7d54bfed3c964073a" +
      "0ee172f3daa62325af021a68f707511a",
    message: "",
    signature: "e5564300c360ac729086e2cc806e828a" +
      "84877f1eb8e5d974d873e06522490155" +
      "5fb8821590a33bacc61e39701cf9b46b" + "d25bf5f0595bbe24655141438e7a100b",
  },
  {
    name: "TEST 2",
    secretKey: "4ccd089b28ff96da9db6c346ec114e0f" +
      "5b8a319f35aba624da8cf6ed4fb8a6fb",
    publicKey: "3d4017c3e843895a92b70aa74d1b7ebc" +
      "9c982ccf2ec4968cc0cd55f12af4660c",
    message: "72",
    signature: "92a009a9f0d4cab8720e820b5f642540" +
      "a2b27b5416503f8fb3762223ebdb69da" +
      "085ac1e43e15996e458f3613d0f11d8c" + "387b2eaeb4302aeeb00d291612bb0c00",
  },
  {
    name: "TEST 3",
    secretKey: "c5aa8df43f9f837bedb7442f31dcb7b1" +
      "66d38535076f094b85ce3a2e0b4458f7",
    publicKey: "fc51cd8e6218a1a38da47ed00230f058" +
      "0816ed13ba3303ac5deb911548908025",
    message: "af82",
    signature: "6291d657deec24024827e69c3abe01a3" +
      "0ce548a284743a445e3680d7db5ac3ac" +
      "18ff9b538d16f290ae67f760984dc659" + "4a7c15e9716ed28dc027beceea1ec40a",
  },
  {
    name: "TEST 1024",
    secretKey: "f5e5767cf153319517630f226876b86c" +
      "8160cc583bc013744c6bf255f5cc0ee5",
    publicKey: "278117fc144c72340f67d0f2316e8386" +
      "ceffbf2b2428c9c51fef7c597f1d426e",
    message: [
      "08b8b2b733424243760fe426a4b54908632110a66c2f6591eabd3345e3e4eb98",
      "fa6e264bf09efe12ee50f8f54e9f77b1e355f6c50544e23fb1433ddf73be84d8",
      "79de7c0046dc4996d9e773f4bc9efe5738829adb26c81b37c93a1b270b20329d",
      "658675fc6ea534e0810a4432826bf58c941efb65d57a338bbd2e26640f89ffbc",
      "1a858efcb8550ee3a5e1998bd177e93a7363c344fe6b199ee5d02e82d522c4fe",
      "ba15452f80288a821a579116ec6dad2b3b310da903401aa62100ab5d1a36553e",
      "06203b33890cc9b832f79ef80560ccb9a39ce767967ed628c6ad573cb116dbef",
      "efd75499da96bd68a8a97b928a8bbc103b6621fcde2beca1231d206be6cd9ec7",
      "aff6f6c94fcd7204ed3455c68c83f4a41da4af2b74ef5c53f1d8ac70bdcb7ed1",
      "85ce81bd84359d44254d95629e9855a94a7c1958d1f8ada5d0532ed8a5aa3fb2",
      "d17ba70eb6248e594e1a2297acbbb39d502f1a8c6eb6f1ce22b3de1a1f40cc24",
      "554119a831a9aad6079cad88425de6bde1a9187ebb6092cf67bf2b13fd65f270",
      "88d78b7e883c8759d2c4f5c65adb7553878ad575f9fad878e80a0c9ba63bcbcc",
      "2732e69485bbc9c90bfbd62481d9089beccf80cfe2df16a2cf65bd92dd597b07",
      "07e0917af48bbb75fed413d238f5555a7a569d80c3414a8d0859dc65a46128ba",
      "b27af87a71314f318c782b23ebfe808b82b0ce26401d2e22f04d83d1255dc51a",
      "ddd3b75a2b1ae0784504df543af8969be3ea7082ff7fc9888c144da2af58429e",
      "c96031dbcad3dad9af0dcbaaaf268cb8fcffead94f3c7ca495e056a9b47acdb7",
      "51fb73e666c6c655ade8297297d07ad1ba5e43f1bca32301651339e22904cc8c",
      "42f58c30c04aafdb038dda0847dd988dcda6f3bfd15c4b4c4525004aa06eeff8",
      "ca61783aacec57fb3d1f92b0fe2fd1a85f6724517b65e614ad6808d6f6ee34df",
      "f7310fdc82aebfd904b01e1dc54b2927094b2db68d6f903b68401adebf5a7e08",
      "d78ff4ef5d63653a65040cf9bfd4aca7984a74d37145986780fc0b16ac451649",
      "de6188a7dbdf191f64b5fc5e2ab47b57f7f7276cd419c17a3ca8e1b939ae49e4",
      "88acba6b965610b5480109c8b17b80e1b7b750dfc7598d5d5011fd2dcc5600a3",
      "2ef5b52a1ecc820e308aa342721aac0943bf6686b64b2579376504ccc493d97e",
      "6aed3fb0f9cd71a43dd497f01f17c0e2cb3797aa2a2f256656168e6c496afc5f",
      "b93246f6b1116398a346f1a641f3b041e989f7914f90cc2c7fff357876e506b5",
      "0d334ba77c225bc307ba537152f3f1610e4eafe595f6d9d90d11faa933a15ef1",
      "369546868a7f3a45a96768d40fd9d03412c091c6315cf4fde7cb68606937380d",
      "b2eaaa707b4c4185c32eddcdd306705e4dc1ffc872eeee475a64dfac86aba41c",
      "0618983f8741c5ef68d3a101e8a3b8cac60c905c15fc910840b94c00a0b9d0",
    ].join(""),
    signature: "0aab4c900501b3e24d7cdf4663326a3a" +
      "87df5e4843b2cbdb67cbf6e460fec350" +
      "aa5371b1508f9f4528ecea23c436d94b" + "5e8fcd4f681e30a6ac00a9704a188a03",
  },
  {
    name: "TEST SHA(abc)",
    secretKey: "833fe62409237b9d62ec77587520911e" +
      "9a759cec1d19755b7da901b96dca3d42",
    publicKey: "ec172b93ad5e563bf4932c70e1245034" +
      "c35467ef2efd4d64ebf819683467e2bf",
    message: "ddaf35a193617abacc417349ae204131" +
      "12e6fa4e89a97ea20a9eeee64b55d39a" +
      "2192992a274fc1a836ba3c23a3feebbd" + "454d4423643ce80e2a9ac94fa54ca49f",
    signature: "dc2a4459e7369633a52b1bf277839a00" +
      "201009a3efbf3ecb69bea2186c26b589" +
      "09351fc9ac90b3ecfdfbc7c66431e030" + "3dca179c138ac17ad9bef1177331a704",
  },
].map((v) => ({
  name: v.name,
  secretKey: hexToBytes(v.secretKey),
  publicKey: hexToBytes(v.publicKey),
  message: hexToBytes(v.message),
  signature: hexToBytes(v.signature),
}));

/** The 8 small-order points, canonically encoded: identity, order 2, 2 of order 4, 4 of order 8. */
const SMALL_ORDER_KEYS = [
  "0100000000000000000000000000000000000000000000000000000000000000",
  "ecffffffffffffffffffffffffffffffffffffffffffffffffffffffffffff7f",
  "0000000000000000000000000000000000000000000000000000000000000000",
  "0000000000000000000000000000000000000000000000000000000000000080",
  "26e8958fc2b227b045c3f489f2ef98f0d5dfac05d3c63339b13802886d53fc05",
  "26e8958fc2b227b045c3f489f2ef98f0d5dfac05d3c63339b13802886d53fc85",
  "c7176a703d4dd84fba3c0b760d10670f2a2053fa2c39ccc64ec7fd7792ac037a",
  "c7176a703d4dd84fba3c0b760d10670f2a2053fa2c39ccc64ec7fd7792ac03fa",
].map(hexToBytes);
const IDENTITY = SMALL_ORDER_KEYS[0];
const ORDER_8 = Point.fromBytes(SMALL_ORDER_KEYS[4]);
/** The torsion subgroup as points, [i]T8 for i = 0..7. */
const TORSION = Array.from(
  { length: 8 },
  (_, i) => ORDER_8.multiplyUnsafe(BigInt(i)),
);

Deno.test("signEd25519() reproduces the RFC 8032 section 7.1 test vectors", () => {
  assert.equal(
    bytesToHex(RFC8032_VECTORS[4].message),
    bytesToHex(sha512(new TextEncoder().encode("abc"))),
  );
  assert.equal(RFC8032_VECTORS[3].message.length, 1023);
  for (const v of RFC8032_VECTORS) {
    assert.equal(
      bytesToHex(publicKeyFromSecret(v.secretKey)),
      bytesToHex(v.publicKey),
      v.name,
    );
    assert.equal(
      bytesToHex(signEd25519(v.secretKey, v.message)),
      bytesToHex(v.signature),
      v.name,
    );
  }
});

Deno.test("verifyEd25519() accepts the RFC 8032 section 7.1 test vectors", async () => {
  for (const v of RFC8032_VECTORS) {
    assert.equal(
      await verifyEd25519(v.publicKey, v.signature, v.message),
      true,
      v.name,
    );
    await assertBoth(true, v.publicKey, v.signature, v.message, v.name);
  }
});

Deno.test("Verifier.verify() rejects every single-bit flip of signature, key and message on every backend", async () => {
  const v = RFC8032_VECTORS[2]; // TEST 3: a 2-byte message, so every message bit is covered too
  for (let bit = 0; bit < 512; bit++) {
    await assertBoth(
      false,
      v.publicKey,
      flipBit(v.signature, bit),
      v.message,
      `sig bit ${bit}`,
    );
  }
  for (let bit = 0; bit < 256; bit++) {
    await assertBoth(
      false,
      flipBit(v.publicKey, bit),
      v.signature,
      v.message,
      `key bit ${bit}`,
    );
  }
  for (let bit = 0; bit < 16; bit++) {
    await assertBoth(
      false,
      v.publicKey,
      v.signature,
      flipBit(v.message, bit),
      `msg bit ${bit}`,
    );
  }
  const long = RFC8032_VECTORS[3]; // TEST 1024: one bit in every fourth byte
  for (let byte = 0; byte < long.message.length; byte += 4) {
    const bit = byte * 8 + (byte % 8);
    await assertBoth(
      false,
      long.publicKey,
      long.signature,
      flipBit(long.message, bit),
      `${bit}`,
    );
  }
});

Deno.test("Verifier.verify() rejects a non-canonical S (S + L) on every backend", async () => {
  for (const v of RFC8032_VECTORS) {
    const s = fromLe(v.signature.subarray(32));
    const signature = concatBytes(v.signature.subarray(0, 32), toLe(s + L));
    await assertBoth(false, v.publicKey, signature, v.message, v.name);
    // Both libraries underneath reject it too; the pre-check makes that independent of them.
    assert.equal(
      await rawWebCrypto(v.publicKey, signature, v.message),
      false,
      v.name,
    );
    assert.equal(
      rawNobleStrict(v.publicKey, signature, v.message),
      false,
      v.name,
    );
  }
});

Deno.test("Verifier.verify() rejects non-canonical encodings of R on every backend", async () => {
  const { secretKey, publicKey } = generateKeyPair();
  const a = secretScalar(secretKey);
  const message = new TextEncoder().encode("non-canonical R");
  // With r = 0, S = k*a makes [S]B - [k]A the identity, whose one canonical encoding is y = 1.
  const canonical = craft(encodeY(1n, 0), 0n, a, publicKey, message);
  await assertBoth(true, publicKey, canonical, message, "canonical identity R");
  for (
    const [label, rBytes] of [
      ["y = 1 + p", encodeY(1n + P, 0)],
      ["y = 1 + p, sign bit set", encodeY(1n + P, 1)],
      ["y = 1, x = 0 with sign bit set", encodeY(1n, 1)],
    ] as const
  ) {
    const signature = craft(rBytes, 0n, a, publicKey, message);
    await assertBoth(false, publicKey, signature, message, label);
    // WebCrypto alone rejects these too: it compares R's bytes with a canonical re-encoding.
    assert.equal(
      await rawWebCrypto(publicKey, signature, message),
      false,
      label,
    );
  }
});

Deno.test("Verifier.verify() rejects public keys whose y is not canonical on every backend", async () => {
  const message = new TextEncoder().encode("non-canonical A");
  const signature = concatBytes(IDENTITY, new Uint8Array(32));
  for (let y = 0n; y < 19n; y++) {
    for (const sign of [0, 1] as const) {
      const publicKey = encodeY(y + P, sign);
      await assertBoth(
        false,
        publicKey,
        signature,
        message,
        `y = ${y} + p, sign ${sign}`,
      );
    }
  }
});

Deno.test("Verifier.verify() rejects small-order public keys on every backend", async () => {
  const encodings = new Set(TORSION.map((t) => t.toHex()));
  assert.deepEqual(new Set(SMALL_ORDER_KEYS.map(bytesToHex)), encodings);
  const nonCanonical = [
    encodeY(1n, 1), // identity, x = 0 with sign bit set
    encodeY(P - 1n, 1), // order 2, x = 0 with sign bit set
    encodeY(1n + P, 0),
    encodeY(1n + P, 1),
    encodeY(P, 0), // y = 0 + p
    encodeY(P, 1),
  ];
  const message = new TextEncoder().encode("small order");
  const trivial = concatBytes(IDENTITY, new Uint8Array(32)); // R = identity, S = 0
  for (const publicKey of [...SMALL_ORDER_KEYS, ...nonCanonical]) {
    await assertBoth(false, publicKey, trivial, message, bytesToHex(publicKey));
    for (const r of SMALL_ORDER_KEYS) {
      const signature = concatBytes(r, new Uint8Array(32));
      await assertBoth(
        false,
        publicKey,
        signature,
        message,
        bytesToHex(publicKey),
      );
    }
  }
  // Without the pre-check WebCrypto accepts the identity key with the trivial signature for any
  // message ([0]B - [k]I = I = R), so the pre-check is what rejects it.
  assert.equal(await rawWebCrypto(IDENTITY, trivial, message), true);
});

Deno.test("Verifier.verify() rejects a torsion-shifted R that a cofactored verifier accepts", async () => {
  const { secretKey, publicKey } = generateKeyPair();
  const a = secretScalar(secretKey);
  const message = new TextEncoder().encode("torsion R");
  for (const torsion of TORSION.slice(1)) {
    const r = 1_000_003n;
    const rBytes = Point.BASE.multiply(r).add(torsion).toBytes();
    const signature = craft(rBytes, r, a, publicKey, message);
    await assertBoth(false, publicKey, signature, message, torsion.toHex());
    assert.equal(await rawWebCrypto(publicKey, signature, message), false);
    // noble's strict `ed.verify` checks [8]([S]B - [k]A - R) = 0, which ignores the torsion part;
    // that is why the noble backend computes the cofactorless equation itself.
    assert.equal(rawNobleStrict(publicKey, signature, message), true);
  }
});

Deno.test("Verifier.verify() agrees across backends on mixed-order public keys", async () => {
  const { secretKey, publicKey } = generateKeyPair();
  const a = secretScalar(secretKey);
  const point = Point.fromBytes(publicKey);
  const message = new TextEncoder().encode("mixed order");
  let accepted = 0;
  let rejected = 0;
  for (const keyTorsion of TORSION.slice(1)) {
    const mixed = point.add(keyTorsion).toBytes();
    for (let r = 1n; r <= 12n; r++) {
      const base = Point.BASE.multiply(r);
      for (const rTorsion of TORSION) {
        const rBytes = base.add(rTorsion).toBytes();
        const signature = craft(rBytes, r, a, mixed, message);
        const k = challenge(rBytes, mixed, message);
        // Cofactorless: [S]B - [k]A' = [r]B - [k]T_A, which equals R = [r]B + T_R iff
        // T_R = -[k]T_A.
        const expected = rTorsion.equals(keyTorsion.multiplyUnsafe(k).negate());
        const label = `${keyTorsion.toHex()} r=${r} ${rTorsion.toHex()}`;
        await assertBoth(expected, mixed, signature, message, label);
        assert.equal(
          await rawWebCrypto(mixed, signature, message),
          expected,
          label,
        );
        if (expected) accepted++;
        else rejected++;
        assert.equal(rawNobleStrict(mixed, signature, message), true, label);
      }
    }
  }
  assert.ok(
    accepted > 0 && rejected > 0,
    `accepted ${accepted}, rejected ${rejected}`,
  );
});

Deno.test("Verifier.verify() gives the same answer on every backend for random mutations", async () => {
  const mutation = fc.oneof(
    fc.record({ kind: fc.constant("none") }),
    fc.record({
      kind: fc.constantFrom("signature", "publicKey", "message"),
      index: fc.nat(),
      byte: fc.integer({ min: 0, max: 255 }),
    }),
    fc.record({ kind: fc.constant("s+L") }),
    fc.record({
      kind: fc.constantFrom("torsionR", "torsionA", "smallA"),
      torsion: fc.nat(7),
    }),
  );
  await fc.assert(
    fc.asyncProperty(
      fc.uint8Array({ minLength: 32, maxLength: 32 }),
      fc.uint8Array({ maxLength: 64 }),
      mutation,
      async (secretKey, message, m) => {
        let publicKey = publicKeyFromSecret(secretKey);
        let signature = signEd25519(secretKey, message);
        const torsion = "torsion" in m ? TORSION[m.torsion] : TORSION[0];
        if (
          m.kind === "signature" || m.kind === "publicKey" ||
          m.kind === "message"
        ) {
          const target = m.kind === "signature"
            ? (signature = signature.slice())
            : m.kind === "publicKey"
            ? (publicKey = publicKey.slice())
            : (message = message.slice());
          if (target.length > 0) target[m.index % target.length] = m.byte;
        } else if (m.kind === "s+L") {
          const s = fromLe(signature.subarray(32));
          signature = concatBytes(signature.subarray(0, 32), toLe(s + L));
        } else if (m.kind === "torsionR") {
          // Re-signed for the shifted R, so a cofactored verifier would accept it.
          const r = signingNonce(secretKey, message);
          const rBytes = Point.BASE.multiply(r).add(torsion).toBytes();
          signature = craft(
            rBytes,
            r,
            secretScalar(secretKey),
            publicKey,
            message,
          );
        } else if (m.kind === "torsionA") {
          // Re-signed for the mixed-order key: valid iff [k]T = 0.
          const r = signingNonce(secretKey, message);
          publicKey = Point.fromBytes(publicKey).add(torsion).toBytes();
          const rBytes = signature.subarray(0, 32);
          signature = craft(
            rBytes,
            r,
            secretScalar(secretKey),
            publicKey,
            message,
          );
        } else if (m.kind === "smallA") {
          publicKey = torsion.toBytes();
        }
        const { viaNative, viaWebCrypto, viaNoble } = await verifyBoth(
          publicKey,
          signature,
          message,
        );
        assert.equal(viaWebCrypto, viaNoble);
        assert.equal(viaNative, viaNoble);
        if (m.kind === "none") assert.equal(viaWebCrypto, true);
      },
    ),
    { numRuns: 300 },
  );
});

Deno.test("Verifier.verify() resolves false for malformed input instead of throwing", async () => {
  const v = RFC8032_VECTORS[1];
  const cases: Array<[string, unknown, unknown, unknown]> = [
    ["short key", v.publicKey.subarray(1), v.signature, v.message],
    [
      "long key",
      concatBytes(v.publicKey, new Uint8Array(1)),
      v.signature,
      v.message,
    ],
    ["short signature", v.publicKey, v.signature.subarray(1), v.message],
    [
      "long signature",
      v.publicKey,
      concatBytes(v.signature, new Uint8Array(1)),
      v.message,
    ],
    [
      "empty everything",
      new Uint8Array(0),
      new Uint8Array(0),
      new Uint8Array(0),
    ],
    ["key is a string", bytesToHex(v.publicKey), v.signature, v.message],
    ["signature is undefined", v.publicKey, undefined, v.message],
    ["message is an array", v.publicKey, v.signature, Array.from(v.message)],
  ];
  for (const [label, publicKey, signature, message] of cases) {
    const args = [publicKey, signature, message] as [
      Uint8Array,
      Uint8Array,
      Uint8Array,
    ];
    assert.equal(await verifyEd25519(...args), false, label);
    await assertBoth(false, ...args, label);
  }
});

Deno.test("Verifier.verify() accepts views into SharedArrayBuffers and offset views on every backend", async () => {
  const v = RFC8032_VECTORS[3];
  const shared = (bytes: Uint8Array) => {
    const view = new Uint8Array(new SharedArrayBuffer(bytes.length + 3), 3);
    view.set(bytes);
    return view;
  };
  await assertBoth(
    true,
    shared(v.publicKey),
    shared(v.signature),
    shared(v.message),
    "shared",
  );
  const packed = concatBytes(
    new Uint8Array(5),
    v.publicKey,
    v.signature,
    v.message,
  );
  const publicKey = packed.subarray(5, 37);
  const signature = packed.subarray(37, 101);
  await assertBoth(
    true,
    publicKey,
    signature,
    packed.subarray(101),
    "offset views",
  );
});

Deno.test("Verifier.cacheSize stays at keyCacheEntriesMax after more distinct keys", async () => {
  const entriesMax = 4;
  const message = new TextEncoder().encode("cache");
  const pairs = Array.from({ length: entriesMax + 6 }, () => generateKeyPair());
  for (const backend of ["native", "webcrypto", "noble"] as const) {
    const verifier = createVerifier({
      backend,
      keyCacheEntriesMax: entriesMax,
    });
    for (const [i, { secretKey, publicKey }] of pairs.entries()) {
      const signature = signEd25519(secretKey, message);
      assert.equal(await verifier.verify(publicKey, signature, message), true);
      assert.equal(verifier.cacheSize, Math.min(i + 1, entriesMax), backend);
    }
    // Rejected keys are cached too, under the same bound.
    for (const publicKey of SMALL_ORDER_KEYS) {
      await verifier.verify(publicKey, new Uint8Array(64), message);
    }
    assert.equal(verifier.cacheSize, entriesMax, backend);
    // An evicted key still verifies after being prepared again.
    const { secretKey, publicKey } = pairs[0];
    const signature = signEd25519(secretKey, message);
    assert.equal(
      await verifier.verify(publicKey, signature, message),
      true,
      backend,
    );
    assert.equal(verifier.cacheSize, entriesMax, backend);
  }
});

Deno.test("createVerifier() resolves backend 'auto' to native on Deno", () => {
  // "auto" picks node:crypto (then WebCrypto) only if it passed the agreement probes at load, so
  // this also checks that Deno's node:crypto is cofactorless and accepts mixed-order keys; that
  // WebCrypto passed them too shows in createVerifier({ backend: "webcrypto" }) not throwing.
  assert.equal(createVerifier().backend, "native");
  assert.equal(createVerifier({ backend: "auto" }).backend, "native");
  assert.equal(native.backend, "native");
  assert.equal(webcrypto.backend, "webcrypto");
  assert.equal(noble.backend, "noble");
});

Deno.test("createVerifier() throws on invalid options", () => {
  const invalid: unknown[] = [
    { keyCacheEntriesMax: 0 },
    { keyCacheEntriesMax: KEY_CACHE_ENTRIES_MAX + 1 },
    { keyCacheEntriesMax: 2.5 },
    { backend: "openssl" },
    { keyCacheEntries: 10 },
  ];
  for (const options of invalid) {
    assert.throws(
      () => createVerifier(options as Parameters<typeof createVerifier>[0]),
      (error: unknown) =>
        error instanceof TypeError &&
        error.message.startsWith("Cannot create verifier as option"),
      JSON.stringify(options),
    );
  }
});
