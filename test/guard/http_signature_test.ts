/**
 * Signed agent requests (RFC 9421 as docs/protocol.md §21 profiles it): the RFC's own ed25519
 * test vector (B.2.6) through our parser, signature base and verifier; RFC 9530's digest; the
 * SDK's signature accepted; and every way a request is refused, each for its own reason (the
 * variants are validly signed, so the reason is the rule and not the signature).
 */
import assert from "node:assert/strict";
import { type Parameters, parseDictionary } from "structured-headers";
import { signRequest } from "../../src/client/request_signer.ts";
import { AgentKey } from "../../src/crypto/agent_key.ts";
import { verifyEd25519 } from "../../src/crypto/ed25519.ts";
import {
  type AgentSignatureOutcome,
  checkAgentSignature,
  HTTP_SIGNATURE_NONCE_TTL_MS,
  signatureRefusal,
  verifyAgentRequest,
} from "../../src/guard/http_signature.ts";
import { decodeBase64Url, encodeBase64Url } from "../../src/protocol/base64url.ts";
import {
  contentDigest,
  HTTP_SIGNATURE_FIELD_BYTES_MAX,
  HTTP_SIGNATURE_SKEW_MS_MAX,
  signatureBase,
  signatureField,
  signatureParamsText,
} from "../../src/protocol/signature_base.ts";
import { utf8Encode } from "../../src/protocol/utf8.ts";
import { MemoryStore } from "../../src/store/memory_store.ts";
import { T0_MS } from "../support/signing.ts";

// RFC 9421 Appendix B.1.4 (test-key-ed25519) as JWK members, and B.2.6.
const RFC_KEY_D = "n4Ni-HpISpVObnQMW0wOhCKROaIKqKtW_2ZYb2p9KcU";
const RFC_KEY_X = "JrQLj5P_89iXES9-vFgrIy29clF9CC_oPPsw3c5D0bs";
const RFC_B26_INPUT =
  'sig-b26=("date" "@method" "@path" "@authority" "content-type" "content-length")' +
  ';created=1618884473;keyid="test-key-ed25519"';
const RFC_B26_SIGNATURE = "sig-b26=:wqcAqbmYJ2ji2glfAMaRy4gruYYnx2nEFN2HN6jrnDnQCK1" +
  "u02Gb04v9EDgwUPiu4A0w6vuQv5lIp5WPpBKRCw==:";
const RFC_B26_BASE = [
  '"date": Tue, 20 Apr 2021 02:07:55 GMT',
  '"@method": POST',
  '"@path": /foo',
  '"@authority": example.com',
  '"content-type": application/json',
  '"content-length": 18',
  '"@signature-params": ("date" "@method" "@path" "@authority" "content-type" ' +
  '"content-length");created=1618884473;keyid="test-key-ed25519"',
].join("\n");
/** The test request of RFC 9421 Appendix B.2. */
const RFC_REQUEST = {
  method: "POST",
  url: "http://example.com/foo?param=Value&Pet=dog",
  headers: new Headers({
    "host": "example.com",
    "date": "Tue, 20 Apr 2021 02:07:55 GMT",
    "content-type": "application/json",
    "content-digest": "sha-512=:WZDPaVn/7XgHaAy8pmojAkGWoRx2UFChF41A2svX+TaPm+AbwAgBWnrIiYllu7BN" +
      "NyealdVLvRwEmTHWXvJwew==:",
    "content-length": "18",
    "signature-input": RFC_B26_INPUT,
    "signature": RFC_B26_SIGNATURE,
  }),
  body: utf8Encode('{"hello": "world"}'),
};

Deno.test("signatureBase() and verifyEd25519 reproduce RFC 9421 B.2.6 (test-key-ed25519)", async () => {
  const member = parseDictionary(RFC_B26_INPUT).get("sig-b26")!;
  assert.ok(Array.isArray(member[0]));
  const components = member[0].map(([c]) => c as string);
  const base = signatureBase(RFC_REQUEST, { components, params: member[1] });
  assert.equal(base, RFC_B26_BASE);
  const signature = new Uint8Array(
    parseDictionary(RFC_B26_SIGNATURE).get("sig-b26")![0] as ArrayBuffer,
  );
  const publicKey = decodeBase64Url(RFC_KEY_X)!;
  assert.equal(await verifyEd25519(publicKey, signature, utf8Encode(RFC_B26_BASE)), true);
  // Ed25519 is deterministic: our signer gives the RFC's bytes.
  const key = AgentKey.fromSecret(RFC_KEY_D);
  assert.equal(key.id, RFC_KEY_X);
  assert.deepEqual(key.sign(utf8Encode(RFC_B26_BASE)), signature);
  assert.equal(signatureField("sig-b26", signature), RFC_B26_SIGNATURE);
  assert.equal(signatureParamsText({ components, params: member[1] }), RFC_B26_INPUT.slice(8));
  const tampered = signature.slice();
  tampered[0] ^= 1;
  assert.equal(await verifyEd25519(publicKey, tampered, utf8Encode(RFC_B26_BASE)), false);
});

Deno.test("checkAgentSignature() finds no mesh signature in the RFC's example (no tag=mesh-agent)", async () => {
  const outcome = await checkAgentSignature(RFC_REQUEST, { nowMs: 1618884473_000 });
  assert.equal(reasonOf(outcome), "missing");
});

Deno.test("contentDigest() gives RFC 9530's sha-256 example", () => {
  assert.equal(
    contentDigest(utf8Encode('{"hello": "world"}')),
    "sha-256=:X48E9qOokqqrvdts8nOJRJN3OWDUoyWxBf7kbu9DBPE=:",
  );
});

const URL_ = "https://eu-1.mesh.example/v1/agents/x/heartbeat?a=1&b=two";

/** What the guard reads of a Request. */
async function parts(request: Request) {
  return {
    method: request.method,
    url: request.url,
    headers: request.headers,
    body: new Uint8Array(await request.arrayBuffer()),
  };
}

async function sdkSigned(key: AgentKey, init: RequestInit = { method: "POST" }, nowMs = T0_MS) {
  return await signRequest(key, new Request(URL_, init), { nowMs });
}

function reasonOf(outcome: AgentSignatureOutcome): string {
  return outcome.ok ? "ok" : outcome.reason;
}

Deno.test("signRequest() is accepted: without a body, and with a body it covers content-digest", async () => {
  const key = AgentKey.generate();
  const plain = await sdkSigned(key);
  assert.match(
    plain.headers.get("signature-input")!,
    /^mesh=\("@method" "@authority" "@path" "@query"\);created=1767225600;keyid="[^"]+";nonce="[A-Za-z0-9_-]{22}";alg="ed25519";tag="mesh-agent"$/,
  );
  const outcome = await checkAgentSignature(await parts(plain), { nowMs: T0_MS, agent: key.id });
  assert.deepEqual(outcome.ok && [outcome.agent, outcome.created], [key.id, T0_MS / 1000]);
  const withBody = await sdkSigned(key, { method: "PUT", body: '{"a":1}' });
  assert.match(withBody.headers.get("signature-input")!, /"@query" "content-digest"\)/);
  assert.equal(withBody.headers.get("content-digest"), contentDigest(utf8Encode('{"a":1}')));
  assert.equal(reasonOf(await checkAgentSignature(await parts(withBody), { nowMs: T0_MS })), "ok");
});

interface Variant {
  components?: string[];
  params?: [string, unknown][];
  label?: string;
}

/**
 * A request signed by `key` with exactly the components and parameters given (defaults: the
 * mesh's), so a refusal is for the rule broken, not for a bad signature.
 */
function custom(key: AgentKey, variant: Variant, init: RequestInit = { method: "POST" }) {
  const headers = new Headers(init.headers);
  const components = variant.components ?? ["@method", "@authority", "@path", "@query"];
  const params = new Map(
    variant.params ?? [
      ["created", T0_MS / 1000],
      ["keyid", key.id],
      ["nonce", "abcdefghijklmnopqrstuv"],
      ["alg", "ed25519"],
      ["tag", "mesh-agent"],
    ],
  ) as Parameters;
  const input = { components, params };
  const base = signatureBase({ method: init.method ?? "GET", url: URL_, headers }, input);
  assert.equal(typeof base, "string", JSON.stringify(base));
  const label = variant.label ?? "mesh";
  headers.set("signature-input", `${label}=${signatureParamsText(input)}`);
  headers.set("signature", signatureField(label, key.sign(utf8Encode(base as string))));
  return { method: init.method ?? "GET", url: URL_, headers, body: new Uint8Array() };
}

function withParam(key: AgentKey, name: string, value: unknown): [string, unknown][] {
  const base: [string, unknown][] = [
    ["created", T0_MS / 1000],
    ["keyid", key.id],
    ["nonce", "abcdefghijklmnopqrstuv"],
    ["alg", "ed25519"],
    ["tag", "mesh-agent"],
  ];
  const out = base.filter(([n]) => n !== name);
  return value === undefined ? out : [...out, [name, value]];
}

Deno.test("checkAgentSignature() refuses a missing or malformed signature, each for its reason", async () => {
  const key = AgentKey.generate();
  const good = await parts(await sdkSigned(key));
  const set = (changes: Record<string, string | null>) => {
    const headers = new Headers(good.headers);
    for (const [name, value] of Object.entries(changes)) {
      if (value === null) headers.delete(name);
      else headers.set(name, value);
    }
    return { ...good, headers };
  };
  const input = good.headers.get("signature-input")!;
  const cases: [string, ReturnType<typeof set>, string][] = [
    ["no fields", set({ "signature-input": null, signature: null }), "missing"],
    ["no Signature", set({ signature: null }), "malformed"],
    ["no Signature-Input", set({ "signature-input": null }), "malformed"],
    ["Signature-Input not a dictionary", set({ "signature-input": "mesh=(" }), "malformed"],
    ["member not an inner list", set({ "signature-input": 'mesh="x"' }), "malformed"],
    ["Signature not bytes", set({ signature: "mesh=abc" }), "malformed"],
    ["Signature of 63 bytes", set({ signature: `mesh=:${btoa("x".repeat(63))}:` }), "malformed"],
    [
      "Signature under another label",
      set({ signature: good.headers.get("signature")!.replace("mesh=", "other=") }),
      "malformed",
    ],
    ["no tag", set({ "signature-input": input.replace(';tag="mesh-agent"', "") }), "missing"],
    [
      "two tagged members",
      set({ "signature-input": `${input}, ${input.replace("mesh=", "again=")}` }),
      "malformed",
    ],
    [
      "too many members",
      set({ "signature-input": `${input}, a=(), b=(), c=(), d=()` }),
      "malformed",
    ],
    [
      "Signature-Input too large",
      set({ "signature-input": `${input}, x="${"y".repeat(HTTP_SIGNATURE_FIELD_BYTES_MAX)}"` }),
      "malformed",
    ],
  ];
  for (const [label, request, reason] of cases) {
    assert.equal(reasonOf(await checkAgentSignature(request, { nowMs: T0_MS })), reason, label);
  }
});

Deno.test("checkAgentSignature() refuses validly signed requests that break the profile: malformed", async () => {
  const key = AgentKey.generate();
  const cases: [string, ReturnType<typeof custom>][] = [
    ["alg rsa", custom(key, { params: withParam(key, "alg", "rsa-pss-sha512") })],
    ["no alg", custom(key, { params: withParam(key, "alg", undefined) })],
    ["no keyid", custom(key, { params: withParam(key, "keyid", undefined) })],
    ["keyid not an id", custom(key, { params: withParam(key, "keyid", "test-key-ed25519") })],
    ["no nonce", custom(key, { params: withParam(key, "nonce", undefined) })],
    ["short nonce", custom(key, { params: withParam(key, "nonce", "abc") })],
    ["nonce not base64url", custom(key, { params: withParam(key, "nonce", "a b".repeat(8)) })],
    ["no created", custom(key, { params: withParam(key, "created", undefined) })],
    ["created a decimal", custom(key, { params: withParam(key, "created", T0_MS / 1000 + 0.5) })],
    ["created a string", custom(key, { params: withParam(key, "created", "1767225600") })],
    ["expires a string", custom(key, { params: [...withParam(key, "expires", "x")] })],
    ["no @query", custom(key, { components: ["@method", "@authority", "@path"] })],
    ["no @method", custom(key, { components: ["@authority", "@path", "@query"] })],
    ["@target-uri instead of the three", custom(key, { components: ["@method", "@target-uri"] })],
    [
      "a component twice",
      custom(key, { components: ["@method", "@method", "@authority", "@path", "@query"] }),
    ],
    [
      "an absent header",
      custom(key, { components: ["@method", "@authority", "@path", "@query", "x-absent"] }, {
        method: "POST",
        headers: { "x-absent": "1" },
      }),
    ],
  ];
  // The last one is signed with the header present, then sent without it.
  cases.at(-1)![1].headers.delete("x-absent");
  for (const [label, request] of cases) {
    const outcome = await checkAgentSignature(request, { nowMs: T0_MS });
    assert.equal(reasonOf(outcome), "malformed", label);
  }
  // Shapes the signer cannot even build a base for, edited into a good field.
  for (const [from, to] of [['"@method"', '"@method";req'], ['"@query"', '"@query" "@status"']]) {
    const edited = custom(key, {});
    edited.headers.set("signature-input", edited.headers.get("signature-input")!.replace(from, to));
    assert.equal(reasonOf(await checkAgentSignature(edited, { nowMs: T0_MS })), "malformed", to);
  }
  const body = { ...custom(key, {}), body: utf8Encode("{}") };
  assert.equal(reasonOf(await checkAgentSignature(body, { nowMs: T0_MS })), "malformed", "body");
  // Extra components and unknown parameters are fine.
  const extra = custom(key, {
    components: ["@method", "@authority", "@path", "@query", "@target-uri", "@scheme", "x-trace"],
    params: [...withParam(key, "expires", T0_MS / 1000 + 30), ["custom", "1"]],
  }, { method: "POST", headers: { "x-trace": "  t1  " } });
  assert.equal(reasonOf(await checkAgentSignature(extra, { nowMs: T0_MS })), "ok");
});

Deno.test("checkAgentSignature() refuses a tampered method, authority, path, query, body, digest or signature: bad_signature", async () => {
  const key = AgentKey.generate();
  const signed = await sdkSigned(key, { method: "POST", body: '{"beat":1}' });
  const good = await parts(signed);
  const url = new URL(URL_);
  const otherUrl = (change: (u: URL) => void) => {
    const u = new URL(url);
    change(u);
    return u.href;
  };
  const tamperedHeaders = (name: string, value: string) => {
    const headers = new Headers(good.headers);
    headers.set(name, value);
    return headers;
  };
  const flipped = decodeBase64Url(
    good.headers.get("signature")!.slice(6, -1).replaceAll("+", "-").replaceAll("/", "_")
      .replace(/=+$/, ""),
  )!;
  flipped[10] ^= 1;
  const cases: [string, typeof good][] = [
    ["method", { ...good, method: "PUT" }],
    ["authority", { ...good, url: otherUrl((u) => u.host = "us-1.mesh.example") }],
    ["port", { ...good, url: otherUrl((u) => u.port = "8443") }],
    ["path", { ...good, url: otherUrl((u) => u.pathname = "/v1/agents/y/heartbeat") }],
    ["query", { ...good, url: otherUrl((u) => u.search = "?a=2&b=two") }],
    ["query dropped", { ...good, url: otherUrl((u) => u.search = "") }],
    ["body", { ...good, body: utf8Encode('{"beat":2}') }],
    [
      "body and digest",
      {
        ...good,
        body: utf8Encode('{"beat":2}'),
        headers: tamperedHeaders("content-digest", contentDigest(utf8Encode('{"beat":2}'))),
      },
    ],
    ["signature", {
      ...good,
      headers: tamperedHeaders("signature", signatureField("mesh", flipped)),
    }],
    [
      "keyid of another agent",
      {
        ...good,
        headers: tamperedHeaders(
          "signature-input",
          good.headers.get("signature-input")!.replace(key.id, AgentKey.generate().id),
        ),
      },
    ],
  ];
  assert.equal(reasonOf(await checkAgentSignature(good, { nowMs: T0_MS })), "ok");
  for (const [label, request] of cases) {
    const outcome = await checkAgentSignature(request, { nowMs: T0_MS });
    assert.equal(reasonOf(outcome), "bad_signature", label);
  }
});

Deno.test("checkAgentSignature() accepts created within HTTP_SIGNATURE_SKEW_MS_MAX either way, else stale", async () => {
  const key = AgentKey.generate();
  for (
    const [offsetMs, reason] of [
      [0, "ok"],
      [-HTTP_SIGNATURE_SKEW_MS_MAX, "ok"],
      [HTTP_SIGNATURE_SKEW_MS_MAX, "ok"],
      [-HTTP_SIGNATURE_SKEW_MS_MAX - 1000, "stale"],
      [HTTP_SIGNATURE_SKEW_MS_MAX + 1000, "stale"],
      [-86_400_000, "stale"],
    ] as const
  ) {
    const request = await parts(await sdkSigned(key, { method: "POST" }, T0_MS + offsetMs));
    assert.equal(
      reasonOf(await checkAgentSignature(request, { nowMs: T0_MS })),
      reason,
      `${offsetMs}`,
    );
  }
  const lapsed = await parts(
    await signRequest(key, new Request(URL_, { method: "POST" }), {
      nowMs: T0_MS - 20_000,
      expiresInS: 10,
    }),
  );
  assert.equal(reasonOf(await checkAgentSignature(lapsed, { nowMs: T0_MS })), "stale");
  assert.equal(reasonOf(await checkAgentSignature(lapsed, { nowMs: T0_MS - 15_000 })), "ok");
});

Deno.test("checkAgentSignature() refuses another agent's valid signature as wrong_key (403)", async () => {
  const owner = AgentKey.generate();
  const other = AgentKey.generate();
  const request = await parts(await sdkSigned(other));
  const outcome = await checkAgentSignature(request, { nowMs: T0_MS, agent: owner.id });
  assert.equal(reasonOf(outcome), "wrong_key");
  assert.equal(!outcome.ok && signatureRefusal(outcome).slug, "forbidden");
});

Deno.test("signatureRefusal() answers 401 with WWW-Authenticate and Accept-Signature", () => {
  const refusal = signatureRefusal({ ok: false, reason: "stale", detail: "old" });
  assert.equal(refusal.slug, "unauthorized");
  assert.equal(refusal.headers["www-authenticate"], 'Signature realm="mesh", error="stale"');
  assert.equal(
    refusal.headers["accept-signature"],
    'mesh=("@method" "@authority" "@path" "@query");created;keyid;nonce;alg="ed25519";tag="mesh-agent"',
  );
  parseDictionary(refusal.headers["accept-signature"]); // a valid structured field
});

Deno.test("verifyAgentRequest() refuses a replayed nonce for as long as created is acceptable, per agent", async () => {
  const store = new MemoryStore();
  const claimNonce = store.claimNonce.bind(store);
  const key = AgentKey.generate();
  const request = await sdkSigned(key);
  const nonce = /nonce="([^"]+)"/.exec(request.headers.get("signature-input")!)![1];
  // A region message of a region whose key were this agent's claims `<id>:<nonce>`: no collision.
  assert.equal(await store.claimNonce(`${key.id}:${nonce}`, 60_000, T0_MS), true);
  const first = await verifyAgentRequest(await parts(request.clone()), {
    nowMs: T0_MS,
    claimNonce,
  });
  assert.equal(reasonOf(first), "ok");
  const later = T0_MS + 2 * HTTP_SIGNATURE_SKEW_MS_MAX - 1;
  for (const nowMs of [T0_MS, T0_MS + HTTP_SIGNATURE_SKEW_MS_MAX]) {
    const again = await verifyAgentRequest(await parts(request.clone()), { nowMs, claimNonce });
    assert.equal(reasonOf(again), "replayed");
  }
  assert.ok(HTTP_SIGNATURE_NONCE_TTL_MS > later - T0_MS);
  // The same nonce from another agent is that agent's own.
  const other = AgentKey.generate();
  const theirs = await signRequest(other, new Request(URL_, { method: "POST" }), {
    nowMs: T0_MS,
    nonce,
  });
  assert.equal(
    reasonOf(await verifyAgentRequest(await parts(theirs), { nowMs: T0_MS, claimNonce })),
    "ok",
  );
  // A refused signature claims nothing: the nonce stays free for the real request.
  const forged = await parts(
    await signRequest(other, new Request(URL_, { method: "POST" }), {
      nowMs: T0_MS,
      nonce: "freshnonce-0123456789",
    }),
  );
  forged.headers.set(
    "signature-input",
    forged.headers.get("signature-input")!.replace(other.id, key.id),
  );
  assert.equal(
    reasonOf(await verifyAgentRequest(forged, { nowMs: T0_MS, claimNonce })),
    "bad_signature",
  );
  assert.equal(
    await store.claimNonce(`agent-req:${key.id}:freshnonce-0123456789`, 1000, T0_MS),
    true,
  );
});

Deno.test("signRequest() output is an RFC 9421 signature any verifier can check with the agent's key", async () => {
  const key = AgentKey.generate();
  const request = await sdkSigned(key, { method: "POST", body: "hello" });
  const member = parseDictionary(request.headers.get("signature-input")!).get("mesh")!;
  const components = (member[0] as [string, Parameters][]).map(([c]) => c);
  const base = signatureBase(
    { method: "POST", url: URL_, headers: request.headers },
    { components, params: member[1] },
  ) as string;
  assert.ok(
    base.startsWith(
      '"@method": POST\n"@authority": eu-1.mesh.example\n"@path": /v1/agents/x/heartbeat\n"@query": ?a=1&b=two\n"content-digest": sha-256=:',
    ),
  );
  const signature = new Uint8Array(
    parseDictionary(request.headers.get("signature")!).get("mesh")![0] as ArrayBuffer,
  );
  assert.equal(await verifyEd25519(decodeBase64Url(key.id)!, signature, utf8Encode(base)), true);
  assert.equal(encodeBase64Url(signature).length, 86);
});

Deno.test("the worked example of docs/protocol.md §21.2 is what signRequest() produces", async () => {
  const key = AgentKey.fromSecret(RFC_KEY_D);
  const url = `https://eu-1.mesh.example/v1/agents/${key.id}/heartbeat`;
  const signed = await signRequest(key, new Request(url, { method: "POST" }), {
    nowMs: 1_767_225_600_000,
    nonce: "AAECAwQFBgcICQoLDA0ODw",
  });
  const params = ';created=1767225600;keyid="JrQLj5P_89iXES9-vFgrIy29clF9CC_oPPsw3c5D0bs"' +
    ';nonce="AAECAwQFBgcICQoLDA0ODw";alg="ed25519";tag="mesh-agent"';
  assert.equal(
    signed.headers.get("signature-input"),
    `mesh=("@method" "@authority" "@path" "@query")${params}`,
  );
  assert.equal(
    signed.headers.get("signature"),
    "mesh=:4G4KsxFpQbFQP5dpg5hlWU8+sLKhSk6vCJxaSU9mXfzhYE80RySKSwzL1d/IbVj4NL+4HyhN469xULjUIfDADg==:",
  );
  const docs = await Deno.readTextFile(new URL("../../docs/protocol.md", import.meta.url));
  for (const line of [signed.headers.get("signature")!, `"@path": ${new URL(url).pathname}`]) {
    assert.ok(docs.includes(line), `docs/protocol.md lacks ${line}`);
  }
  const outcome = await checkAgentSignature(await parts(signed), {
    nowMs: 1_767_225_600_000,
    agent: key.id,
  });
  assert.equal(reasonOf(outcome), "ok");
});
