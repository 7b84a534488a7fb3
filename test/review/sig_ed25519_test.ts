/**
 * Review of signed agent requests: the heartbeat route's ed25519 check is the project's one
 * acceptance rule (src/crypto/ed25519.ts) — the same verdict as `verifyEd25519` on the signature
 * base for crafted edge cases: a small-order key (the identity) with the trivial signature, a
 * non-canonical S (S + L), and a mixed-order key (A + T, T of order 8) whose signatures pass the
 * cofactored equation always but the project's cofactorless one only when 8 | k. None is a 500.
 */
import assert from "node:assert/strict";
import * as ed from "@noble/ed25519";
import { sha512 } from "@noble/hashes/sha2.js";
import type { Parameters } from "structured-headers";
import { meshRegionApp } from "../../src/compose/mesh_region_app.ts";
import { signRequest } from "../../src/client/request_signer.ts";
import { AgentKey } from "../../src/crypto/agent_key.ts";
import { verifyEd25519 } from "../../src/crypto/ed25519.ts";
import { decodeBase64Url, encodeBase64Url } from "../../src/protocol/base64url.ts";
import {
  signatureBase,
  signatureField,
  signatureParamsText,
} from "../../src/protocol/signature_base.ts";
import { utf8Encode } from "../../src/protocol/utf8.ts";
import { Registry } from "../../src/registry/registry.ts";
import { MemoryStore } from "../../src/store/memory_store.ts";

const T_MS = 1_767_225_600_000;
const L = ed.Point.CURVE().n;
const REQUIRED = ["@method", "@authority", "@path", "@query"];
/** A point of order 8 (RFC 8032 / "Taming the many EdDSAs" torsion list). */
const TORSION_8 = "c7176a703d4dd84fba3c0b760d10670f2a2053fa2c39ccc64ec7fd7792ac037a";

function region() {
  const store = new MemoryStore();
  const now = () => T_MS;
  const registry = new Registry({ region: "eu-1", store, now });
  return { store, registry, app: meshRegionApp({ region: "eu-1", store, now, registry }) };
}

const le = (bytes: Uint8Array) => bytes.reduceRight((n, b) => (n << 8n) | BigInt(b), 0n);
function toLe(n: bigint, length = 32): Uint8Array {
  const out = new Uint8Array(length);
  for (let i = 0; i < length; i++, n >>= 8n) out[i] = Number(n & 0xffn);
  return out;
}

/** A heartbeat request for `id` with a given signature over its base, and the base's bytes. */
function heartbeat(id: string, nonce: string, sign: (base: Uint8Array) => Uint8Array) {
  const url = `http://eu-1.mesh.example/v1/agents/${id}/heartbeat`;
  const params: Parameters = new Map<string, string | number>([
    ["created", T_MS / 1000],
    ["keyid", id],
    ["nonce", nonce],
    ["alg", "ed25519"],
    ["tag", "mesh-agent"],
  ]) as Parameters;
  const headers = new Headers();
  const input = { components: REQUIRED, params };
  const base = utf8Encode(signatureBase({ method: "POST", url, headers }, input) as string);
  const signature = sign(base);
  headers.set("signature-input", `mesh=${signatureParamsText(input)}`);
  headers.set("signature", signatureField("mesh", signature));
  return { request: new Request(url, { method: "POST", headers }), base, signature };
}

Deno.test("sig ed25519: the identity key with R = identity, S = 0 verifies for no base", async () => {
  const { app } = region();
  const identity = new Uint8Array(32);
  identity[0] = 1;
  const id = encodeBase64Url(identity);
  const { request, base, signature } = heartbeat(id, "small-order-key-0", () => {
    const sig = new Uint8Array(64);
    sig.set(identity, 0);
    return sig;
  });
  assert.equal(await verifyEd25519(identity, signature, base), false);
  const response = await app.request(request);
  assert.equal(response.status, 401);
  assert.match(response.headers.get("www-authenticate")!, /bad_signature/);
});

Deno.test("sig ed25519: a non-canonical S (S + L) of a valid signature is refused, the original is not", async () => {
  const { app } = region();
  const key = AgentKey.generate();
  const url = `http://eu-1.mesh.example/v1/agents/${key.id}/heartbeat`;
  const signed = await signRequest(key, new Request(url, { method: "POST" }), { nowMs: T_MS });
  const field = signed.headers.get("signature")!;
  const sig = Uint8Array.from(atob(field.slice("mesh=:".length, -1)), (c) => c.charCodeAt(0));
  const malleated = new Uint8Array(sig);
  malleated.set(toLe(le(sig.subarray(32)) + L), 32);
  const headers = new Headers(signed.headers);
  headers.set("signature", signatureField("mesh", malleated));
  const bad = await app.request(new Request(url, { method: "POST", headers }));
  assert.equal(bad.status, 401);
  assert.match(bad.headers.get("www-authenticate")!, /bad_signature/);
  assert.equal((await app.request(signed)).status, 204, "the canonical one, nonce unspent");
});

Deno.test("sig ed25519: a mixed-order key gets the cofactorless verdict of verifyEd25519, never 500", async () => {
  const { app } = region();
  const seed = crypto.getRandomValues(new Uint8Array(32));
  const { scalar, point } = ed.utils.getExtendedPublicKey(seed);
  const mixed = point.add(ed.Point.fromHex(TORSION_8));
  const mixedBytes = mixed.toBytes();
  const id = encodeBase64Url(mixedBytes);
  assert.deepEqual(decodeBase64Url(id), mixedBytes);
  const seen = { divisible: 0, notDivisible: 0 };
  for (let i = 0; i < 200 && (seen.divisible === 0 || seen.notDivisible < 3); i++) {
    let k = 0n;
    const { request, base, signature } = heartbeat(
      id,
      `mixed-order-${String(i).padStart(6, "0")}`,
      (msg) => {
        const r = le(crypto.getRandomValues(new Uint8Array(64))) % L;
        const R = ed.Point.BASE.multiply(r).toBytes();
        k = le(sha512(new Uint8Array([...R, ...mixedBytes, ...msg]))) % L;
        const S = (r + k * scalar) % L;
        return new Uint8Array([...R, ...toLe(S)]);
      },
    );
    const rule = await verifyEd25519(mixedBytes, signature, base);
    assert.equal(rule, k % 8n === 0n, "cofactorless: [S]B - [k]A' = R - [k]T");
    const response = await app.request(request);
    assert.equal(response.status, rule ? 204 : 401, `k mod 8 = ${k % 8n}`);
    if (rule) seen.divisible++;
    else seen.notDivisible++;
  }
  assert.ok(seen.notDivisible >= 3, "signatures a cofactored verifier would take were refused");
});
