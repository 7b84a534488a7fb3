/**
 * Ed25519 signing. A signature is a function of the seed and the message alone (RFC 8032 §5.1.6),
 * so every backend must give the same 64 bytes; each native one is used only after it signed a
 * probe to the bytes noble gives. In order of preference: the runtime's `node:crypto`
 * (synchronous, on the calling thread: ~0.02–0.05 ms here against noble's ~0.28 ms), WebCrypto
 * (asynchronous, for {@linkcode createSigner} where `node:crypto` is missing, e.g. Vercel's edge
 * runtime), then noble. docs/performance.md, issue 15.
 */
import * as ed from "@noble/ed25519";
import { encodeBase64Url } from "../protocol/base64url.ts";
import { asBufferSource, publicKeyFromSecret, SECRET_KEY_BYTES } from "./ed25519.ts";
import { type NodeCrypto, nodeCrypto, type NodeKey } from "./_node_crypto.ts";

/** Signs bytes with one secret key; resolves the 64-byte signature. */
export type AsyncSigner = (message: Uint8Array) => Promise<Uint8Array>;

const PROBE_MESSAGE = new TextEncoder().encode("mesh ed25519 signer probe");
/** DER of an Ed25519 PKCS #8 private key, before the 32 seed bytes (RFC 8410). */
export const PKCS8_SEED_PREFIX: readonly number[] = [
  ...[0x30, 0x2e, 0x02, 0x01, 0x00, 0x30, 0x05, 0x06],
  ...[0x03, 0x2b, 0x65, 0x70, 0x04, 0x22, 0x04, 0x20],
];

/** noble's signature: the reference every other backend is held to. Throws on a wrong length. */
export function signEd25519Portable(secretKey: Uint8Array, message: Uint8Array): Uint8Array {
  return ed.sign(message, secretKey);
}

type NativeSigning = Pick<NodeCrypto, "createPrivateKey" | "sign">;

/** The runtime's `node:crypto` where it signs the probe as noble does, else null. */
function probeNative(): NativeSigning | null {
  const native = nodeCrypto(["createPrivateKey", "sign"]);
  if (native === null) return null;
  try {
    const seed = new Uint8Array(SECRET_KEY_BYTES).map((_, i) => i * 7 + 1);
    const signed = native.sign(null, PROBE_MESSAGE, nativeKey(native, seed));
    return sameBytes(signed, signEd25519Portable(seed, PROBE_MESSAGE)) ? native : null;
  } catch {
    return null;
  }
}

/** Probed on first use, not at load (the probe's noble signature costs start-up ~25 ms). */
let native: NativeSigning | null | undefined;

/**
 * `node:crypto` for this seed, or null where noble must sign with it. Only what noble takes goes
 * native (a 32-byte `Uint8Array` seed, a `Uint8Array` message): noble throws on anything else, and
 * so must we.
 */
function nativeFor(secretKey: Uint8Array): NativeSigning | null {
  if (!(secretKey instanceof Uint8Array) || secretKey.length !== SECRET_KEY_BYTES) return null;
  native ??= probeNative();
  return native;
}

function nativeKey(signing: NativeSigning, seed: Uint8Array): NodeKey {
  const key = Uint8Array.from([...PKCS8_SEED_PREFIX, ...seed]);
  return signing.createPrivateKey({ key, format: "der", type: "pkcs8" });
}

/** `node:crypto`'s signature, or noble's where it throws. */
function signedBy(
  signing: NativeSigning,
  key: () => NodeKey,
  secretKey: Uint8Array,
  message: Uint8Array,
): Uint8Array {
  try {
    return new Uint8Array(signing.sign(null, message, key()));
  } catch {
    return signEd25519Portable(secretKey, message);
  }
}

function sameBytes(a: Uint8Array, b: Uint8Array): boolean {
  return a.length === b.length && a.every((byte, i) => byte === b[i]);
}

/**
 * Signs `message` with a 32-byte secret key seed; returns the 64-byte signature. Throws on a wrong
 * length.
 */
export function signEd25519(secretKey: Uint8Array, message: Uint8Array): Uint8Array {
  const signing = message instanceof Uint8Array ? nativeFor(secretKey) : null;
  if (signing === null) return signEd25519Portable(secretKey, message);
  return signedBy(signing, () => nativeKey(signing, secretKey), secretKey, message);
}

/**
 * A signer for one 32-byte secret key seed: `node:crypto` with the key imported once, else
 * WebCrypto where it signs a probe as noble does (its native signing leaves the event loop free
 * meanwhile), else noble. Signatures resolve in the order they were asked for: what a caller sends
 * once signed leaves in the order it was built (a region's eager forwards rely on it), which
 * WebCrypto's own promises do not promise. `native: false` passes `node:crypto` over, as on a
 * runtime without it.
 */
export function createSigner(
  secretKey: Uint8Array,
  options: { readonly native?: boolean } = {},
): AsyncSigner {
  const signing = options.native === false ? null : nativeFor(secretKey);
  if (signing !== null) {
    let key: NodeKey | null = null;
    const imported = () => key ??= nativeKey(signing, secretKey);
    // Resolved at once; what noble refuses (it throws) rejects instead of throwing at the caller.
    return (message) =>
      new Promise((resolve) =>
        resolve(
          message instanceof Uint8Array
            ? signedBy(signing, imported, secretKey, message)
            : signEd25519Portable(secretKey, message),
        )
      );
  }
  const portable = (message: Uint8Array) => signEd25519Portable(secretKey, message);
  let key: Promise<CryptoKey | null> | null = null;
  const sign = async (message: Uint8Array) => {
    key ??= webCryptoKey(secretKey);
    const handle = await key;
    if (handle === null) return portable(message);
    try {
      const signature = await crypto.subtle.sign("Ed25519", handle, asBufferSource(message));
      return new Uint8Array(signature);
    } catch {
      return portable(message);
    }
  };
  let last: Promise<unknown> = Promise.resolve();
  return (message) => {
    const signed = last.then(() => sign(message));
    last = signed.catch(() => {});
    return signed;
  };
}

/** The WebCrypto key of a seed, or null where WebCrypto cannot sign as noble does. */
async function webCryptoKey(secretKey: Uint8Array): Promise<CryptoKey | null> {
  try {
    const jwk = {
      kty: "OKP",
      crv: "Ed25519",
      d: encodeBase64Url(secretKey),
      x: encodeBase64Url(publicKeyFromSecret(secretKey)),
    };
    const key = await crypto.subtle.importKey("jwk", jwk, "Ed25519", false, ["sign"]);
    const probe = new Uint8Array(await crypto.subtle.sign("Ed25519", key, PROBE_MESSAGE));
    return sameBytes(probe, signEd25519Portable(secretKey, PROBE_MESSAGE)) ? key : null;
  } catch {
    return null;
  }
}
