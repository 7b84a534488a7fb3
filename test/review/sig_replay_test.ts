/**
 * Review of signed agent requests (RFC 9421, docs/protocol.md §21) and the heartbeat route: can a
 * valid signature for one request be reused for another? Real region processes' HTTP path is
 * reproduced with `Deno.serve` and raw HTTP/1.1 written to a socket, so the `Host` line, the
 * request target and repeated fields are exactly what an attacker sends.
 *
 * Defect (ignored test): `@authority` does not tie a signed request to one region. The region
 * takes `@authority` from the request's own `Host` (or absolute-form target) and never compares
 * it with an authority of its own, and regions do not share nonces, so a heartbeat captured on its
 * way to eu-1 is accepted by us-1 when replayed with `Host: eu-1…` (§21.3 step 7 claims otherwise).
 *
 * Guards (passing): alternative spellings of a captured request (host case, default port,
 * absolute-form target, `?` vs no query, dot segments, re-encoded path, whitespace and decimal
 * forms of the parameters, duplicated parameters, a second `Signature-Input` field) never get a
 * second 204; nonces are per agent; keyid ≠ path id is 403 and claims nothing; `alg`, `expires`,
 * `created` and nonce bounds.
 */
import assert from "node:assert/strict";
import type { Hono } from "hono";
import type { Parameters } from "structured-headers";
import { signRequest } from "../../src/client/request_signer.ts";
import { meshRegionApp } from "../../src/compose/mesh_region_app.ts";
import { AgentKey } from "../../src/crypto/agent_key.ts";
import { CLOCK_SKEW_FUTURE_MS_MAX } from "../../src/protocol/limits.ts";
import {
  contentDigest,
  HTTP_SIGNATURE_SKEW_MS_MAX,
  signatureBase,
  signatureField,
  signatureParamsText,
} from "../../src/protocol/signature_base.ts";
import { utf8Encode } from "../../src/protocol/utf8.ts";
import { Registry } from "../../src/registry/registry.ts";
import { MemoryStore } from "../../src/store/memory_store.ts";
import type { RegionStore } from "../../src/store/region_store.ts";

const T_MS = 1_767_225_600_000;

function regionOn(name: string, store: RegionStore = new MemoryStore(), now = () => T_MS) {
  // Each region knows the authority agents reach it by (in a mesh: its topology URL).
  const registry = new Registry({
    region: name,
    store,
    now,
    authorities: [`${name}.mesh.example`],
  });
  const app = meshRegionApp({ region: name, store, now, registry });
  return { name, store, registry, app };
}

/** A region served on a real socket (the Host line becomes the request's URL, as in production). */
function serve(app: Hono) {
  const server = Deno.serve(
    { hostname: "127.0.0.1", port: 0, onListen: () => {} },
    (request, info) => app.fetch(request, { remoteAddr: info.remoteAddr }),
  );
  return { port: server.addr.port, close: () => server.shutdown() };
}

/** Writes one raw HTTP/1.1 request and reads the status code. */
async function rawStatus(port: number, head: string): Promise<number> {
  const conn = await Deno.connect({ hostname: "127.0.0.1", port });
  try {
    await conn.write(new TextEncoder().encode(head));
    let text = "";
    const buf = new Uint8Array(8192);
    while (!text.includes("\r\n")) {
      const n = await conn.read(buf);
      if (n === null) break;
      text += new TextDecoder().decode(buf.subarray(0, n));
    }
    return Number(text.split(" ")[1]);
  } finally {
    conn.close();
  }
}

/** The raw request of a signed heartbeat, with a chosen request target and Host line. */
function rawHeartbeat(
  signed: Request,
  options: { target?: string; host?: string; extra?: string[] } = {},
): string {
  const url = new URL(signed.url);
  const lines = [
    `POST ${options.target ?? url.pathname + url.search} HTTP/1.1`,
    `Host: ${options.host ?? url.host}`,
    `Signature-Input: ${signed.headers.get("signature-input")}`,
    `Signature: ${signed.headers.get("signature")}`,
    "Content-Length: 0",
    "Connection: close",
    ...(options.extra ?? []),
  ];
  return lines.join("\r\n") + "\r\n\r\n";
}

function heartbeatUrl(key: AgentKey, authority = "eu-1.mesh.example", query = "") {
  return `http://${authority}/v1/agents/${key.id}/heartbeat${query}`;
}

async function signedHeartbeat(key: AgentKey, url: string, nowMs = T_MS, nonce?: string) {
  return await signRequest(key, new Request(url, { method: "POST" }), { nowMs, nonce });
}

/**
 * Signs `url` with chosen components and parameters, and sends `wireInput` (default: the
 * canonical member) as the `Signature-Input` member; the signature is over the canonical base.
 */
function handSigned(
  key: AgentKey,
  url: string,
  components: string[],
  params: Parameters,
  options: { wireInput?: string; label?: string; headers?: Record<string, string> } = {},
): Request {
  const headers = new Headers(options.headers ?? {});
  const input = { components, params };
  const base = signatureBase({ method: "POST", url, headers }, input);
  if (typeof base !== "string") throw new Error(`cannot build base: ${JSON.stringify(base)}`);
  const label = options.label ?? "mesh";
  headers.set("signature-input", `${label}=${options.wireInput ?? signatureParamsText(input)}`);
  headers.set("signature", signatureField(label, key.sign(utf8Encode(base))));
  return new Request(url, { method: "POST", headers });
}

function meshParams(key: AgentKey, overrides: [string, unknown][] = [], nowMs = T_MS): Parameters {
  const params: Parameters = new Map<string, unknown>([
    ["created", Math.floor(nowMs / 1000)],
    ["keyid", key.id],
    ["nonce", "AAECAwQFBgcICQoLDA0ODw"],
    ["alg", "ed25519"],
    ["tag", "mesh-agent"],
  ]) as Parameters;
  for (const [name, value] of overrides) {
    if (value === undefined) params.delete(name);
    else params.set(name, value as never);
  }
  return params;
}

const REQUIRED = ["@method", "@authority", "@path", "@query"];

async function reasonOf(response: Response): Promise<string> {
  if (response.status === 204) return "ok";
  const auth = response.headers.get("www-authenticate");
  const body = await response.json();
  return auth?.match(/error="([a-z_]+)"/)?.[1] ?? `${response.status} ${body.type}`;
}

// Was a defect (fixed: the registry refuses an @authority that is not the region's; this
// guards it): @authority was taken from the request itself (Host / absolute-form) and never compared
// with the region's own authority, and nonces are per region, so a heartbeat signed for eu-1 is
// accepted by us-1 when replayed with `Host: eu-1.mesh.example`. docs/protocol.md §21.3 step 7
// says "`@authority` ties the request to one region". Fix: configure each region's public
// authorities (MESH_PUBLIC_URL, or the topology's `url`) and refuse (401 malformed/bad_authority)
// a signed request whose @authority is not one of them.
Deno.test({
  name: "sig: a heartbeat signed for eu-1 is refused by us-1 when replayed with Host: eu-1",
  async fn() {
    const eu = regionOn("eu-1", new MemoryStore(), Date.now);
    const us = regionOn("us-1", new MemoryStore(), Date.now);
    const euServer = serve(eu.app);
    const usServer = serve(us.app);
    try {
      const key = AgentKey.generate();
      const signed = await signedHeartbeat(key, heartbeatUrl(key), Date.now());
      assert.equal(await rawStatus(euServer.port, rawHeartbeat(signed)), 204, "eu-1 accepts");
      assert.equal(await rawStatus(euServer.port, rawHeartbeat(signed)), 401, "eu-1: replay");
      // The attacker (a proxy on the way to eu-1, or eu-1's operator) replays it to us-1.
      const atUs = await rawStatus(usServer.port, rawHeartbeat(signed));
      assert.notEqual(atUs, 204, "us-1 accepted a heartbeat signed for eu-1");
      assert.equal(us.registry.liveness.pending, 0, "us-1 noted the agent alive");
    } finally {
      await euServer.close();
      await usServer.close();
    }
  },
});

Deno.test("sig: spellings of a captured heartbeat that reach the same region never get a second 204", async () => {
  const eu = regionOn("eu-1", new MemoryStore(), Date.now);
  const server = serve(eu.app);
  try {
    const key = AgentKey.generate();
    const signed = await signedHeartbeat(key, heartbeatUrl(key), Date.now());
    const path = new URL(signed.url).pathname;
    assert.equal(await rawStatus(server.port, rawHeartbeat(signed)), 204);
    const variants: Record<string, string> = {
      "host in upper case": rawHeartbeat(signed, { host: "EU-1.MESH.EXAMPLE" }),
      "host with the default port": rawHeartbeat(signed, { host: "eu-1.mesh.example:80" }),
      "absolute-form target": rawHeartbeat(signed, { target: `http://eu-1.mesh.example${path}` }),
      "empty query": rawHeartbeat(signed, { target: `${path}?` }),
      "dot segment": rawHeartbeat(signed, {
        target: path.replace("/heartbeat", "/x/../heartbeat"),
      }),
      "encoded dot segment": rawHeartbeat(signed, {
        target: path.replace("/heartbeat", "/%2e/heartbeat"),
      }),
      "percent-encoded letter": rawHeartbeat(signed, {
        target: path.replace("/heartbeat", "/%68eartbeat"),
      }),
      "trailing slash": rawHeartbeat(signed, { target: `${path}/` }),
      "a query added": rawHeartbeat(signed, { target: `${path}?a=1` }),
      "signature fields repeated": rawHeartbeat(signed, {
        extra: [
          `Signature-Input: ${signed.headers.get("signature-input")}`,
          `Signature: ${signed.headers.get("signature")}`,
        ],
      }),
    };
    for (const [label, head] of Object.entries(variants)) {
      const status = await rawStatus(server.port, head);
      assert.notEqual(status, 204, `${label}: a captured heartbeat was accepted twice`);
      assert.ok(status < 500, `${label}: ${status}`);
    }
  } finally {
    await server.close();
  }
});

Deno.test("sig: malleable wire forms of Signature-Input verify, but the nonce still makes them replays", async () => {
  const { app } = regionOn("eu-1");
  const key = AgentKey.generate();
  const url = heartbeatUrl(key);
  const params = meshParams(key);
  const canonical = signatureParamsText({ components: REQUIRED, params });
  const first = handSigned(key, url, REQUIRED, params);
  assert.equal(await reasonOf(await app.request(first)), "ok");
  const created = Math.floor(T_MS / 1000);
  const wireForms: Record<string, string> = {
    "spaces around items": canonical.replace("(", "(  ").replace(")", "  )"),
    "decimal created": canonical.replace(`created=${created}`, `created=${created}.0`),
    "duplicated nonce, last wins": canonical.replace(
      ';alg="ed25519"',
      ';nonce="BBBBBBBBBBBBBBBBBBBBBB";alg="ed25519";nonce="AAECAwQFBgcICQoLDA0ODw"',
    ).replace(';nonce="AAECAwQFBgcICQoLDA0ODw";nonce', ";nonce"),
    "duplicated tag": canonical + ';tag="mesh-agent"',
  };
  for (const [label, wire] of Object.entries(wireForms)) {
    const headers = new Headers(first.headers);
    headers.set("signature-input", `mesh=${wire}`);
    const response = await app.request(new Request(url, { method: "POST", headers }));
    const reason = await reasonOf(response);
    assert.ok(["replayed", "bad_signature", "malformed"].includes(reason), `${label}: ${reason}`);
  }
});

Deno.test("sig: a decimal created is read as an integer (RFC 9421 §2.3 says Integer) — noted, harmless", async () => {
  const { app } = regionOn("eu-1");
  const key = AgentKey.generate();
  const url = heartbeatUrl(key);
  const params = meshParams(key);
  const canonical = signatureParamsText({ components: REQUIRED, params });
  const created = Math.floor(T_MS / 1000);
  const request = handSigned(key, url, REQUIRED, params, {
    wireInput: canonical.replace(`created=${created}`, `created=${created}.000`),
  });
  // Accepted today: the parser yields the number, isSeconds() takes it, the base re-serializes it
  // as an Integer. Only the form changes (the nonce still binds it), so this is not a replay.
  assert.equal(await reasonOf(await app.request(request)), "ok");
});

Deno.test("sig: nonces are per agent; a valid signature by another key is 403 and claims nothing", async () => {
  const { app } = regionOn("eu-1");
  const a = AgentKey.generate();
  const b = AgentKey.generate();
  const nonce = "AAECAwQFBgcICQoLDA0ODw";
  // b signs a's heartbeat with the nonce a is about to use: 403, and a's request still goes through.
  const byB = await signedHeartbeat(b, heartbeatUrl(a), T_MS, nonce);
  assert.equal((await app.request(byB)).status, 403);
  assert.equal(
    await reasonOf(await app.request(await signedHeartbeat(a, heartbeatUrl(a), T_MS, nonce))),
    "ok",
  );
  // The same nonce by another agent for its own resource is not a replay of a's.
  assert.equal(
    await reasonOf(await app.request(await signedHeartbeat(b, heartbeatUrl(b), T_MS, nonce))),
    "ok",
  );
  assert.equal(
    await reasonOf(
      await app.request(await signedHeartbeat(a, heartbeatUrl(a), T_MS + 1_000, nonce)),
    ),
    "replayed",
    "the nonce is the agent's for as long as created is acceptable, whatever else changes",
  );
});

Deno.test("sig: alg, created, expires and nonce bounds", async () => {
  const { app } = regionOn("eu-1");
  const key = AgentKey.generate();
  const url = heartbeatUrl(key);
  let n = 0;
  const nonce = () => `nonce-${String(n++).padStart(12, "0")}`;
  const send = async (overrides: [string, unknown][]) =>
    await reasonOf(
      await app.request(
        handSigned(key, url, REQUIRED, meshParams(key, [["nonce", nonce()], ...overrides])),
      ),
    );
  const s = Math.floor(T_MS / 1000);
  assert.equal(await send([["alg", undefined]]), "malformed", "alg missing");
  assert.equal(await send([["alg", "ED25519"]]), "malformed", "alg in upper case");
  assert.equal(await send([["expires", s - 1]]), "stale", "expires in the past");
  assert.equal(await send([["expires", s]]), "ok", "expires now");
  assert.equal(await send([["created", s + 61]]), "stale", "created 61 s ahead");
  assert.equal(await send([["created", s - 61]]), "stale", "created 61 s behind");
  assert.equal(await send([["created", -1]]), "malformed", "negative created");
  assert.equal(
    await send([["created", s + 60], ["expires", s + 30]]),
    "ok",
    "expires before created",
  );
  assert.equal(await send([["nonce", "A".repeat(15)]]), "malformed", "15-char nonce");
  assert.equal(await send([["nonce", "A".repeat(65)]]), "malformed", "65-char nonce");
  assert.equal(await send([["nonce", "AAAAAAAAAAAAAAA="]]), "malformed", "padding in nonce");
  assert.equal(await send([["nonce", "AAAAAAAA:AAAAAAAA"]]), "malformed", "colon in nonce");
  assert.equal(await send([["nonce", "A".repeat(64)]]), "ok", "64-char nonce");
  assert.equal(
    await send([["keyid", AgentKey.generate().id]]),
    "bad_signature",
    "keyid of another",
  );
  // A signer ahead within the skew: liveness at its time, never beyond a delta's bound.
  const ahead = await app.request(
    handSigned(key, url, REQUIRED, meshParams(key, [["nonce", nonce()], ["created", s + 60]])),
  );
  assert.equal(ahead.status, 204);
  assert.ok(HTTP_SIGNATURE_SKEW_MS_MAX <= CLOCK_SKEW_FUTURE_MS_MAX);
});

Deno.test("sig: content-digest covered without a body, absent, or the body sent anyway", async () => {
  const { app } = regionOn("eu-1");
  const key = AgentKey.generate();
  const url = heartbeatUrl(key);
  const withDigest = [...REQUIRED, "content-digest"];
  const empty = contentDigest(new Uint8Array());
  const ok = handSigned(key, url, withDigest, meshParams(key, [["nonce", "digest-ok-000000"]]), {
    headers: { "content-digest": empty },
  });
  assert.equal(await reasonOf(await app.request(ok)), "ok", "the digest of no body");
  const wrong = handSigned(key, url, withDigest, meshParams(key, [["nonce", "digest-bad-00000"]]), {
    headers: { "content-digest": contentDigest(utf8Encode("x")) },
  });
  assert.equal(await reasonOf(await app.request(wrong)), "bad_signature", "digest of other bytes");
  // The digest covered, the field then removed: refused, never 500.
  const stripped = handSigned(
    key,
    url,
    withDigest,
    meshParams(key, [["nonce", "digest-gone-0000"]]),
    {
      headers: { "content-digest": empty },
    },
  );
  const headers = new Headers(stripped.headers);
  headers.delete("content-digest");
  const gone = await app.request(new Request(url, { method: "POST", headers }));
  assert.equal(gone.status, 401);
  // A body on a heartbeat: 413 before the signature, and the nonce is not used up.
  const signed = await signedHeartbeat(key, url, T_MS, "with-a-body-0000");
  const withBody = await app.request(
    new Request(url, { method: "POST", headers: signed.headers, body: "x" }),
  );
  assert.equal(withBody.status, 413);
  assert.equal(await reasonOf(await app.request(signed)), "ok");
});

Deno.test("sig: a proxy's own signature in a second Signature-Input field leaves the agent's checkable", async () => {
  const { app } = regionOn("eu-1");
  const key = AgentKey.generate();
  const signed = await signedHeartbeat(key, heartbeatUrl(key));
  const headers = new Headers(signed.headers);
  headers.append("signature-input", 'proxy=("@method");created=1;keyid="p";tag="proxy"');
  headers.append("signature", `proxy=:${btoa("x".repeat(64))}:`);
  assert.equal(
    await reasonOf(await app.request(new Request(signed.url, { method: "POST", headers }))),
    "ok",
  );
  // The same label as the agent's: the dictionary keeps the last member, the agent's is gone.
  const clash = new Headers(signed.headers);
  clash.append("signature-input", 'mesh=("@method");created=1;keyid="p";tag="proxy"');
  const reason = await reasonOf(
    await app.request(new Request(signed.url, { method: "POST", headers: clash })),
  );
  assert.equal(reason, "missing");
});
