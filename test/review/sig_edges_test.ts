/**
 * Review of signed agent requests: inputs aimed at a 500 or a crash on the heartbeat route —
 * structured-field shapes the parser accepts but the profile does not, bounds exactly at and past
 * the limit, odd covered components (the signature fields themselves, obs-text values), extreme
 * integers, and the store failing at each step (503 with Retry-After, the nonce never lost).
 * All guards (passing).
 */
import assert from "node:assert/strict";
import type { Parameters } from "structured-headers";
import { signRequest } from "../../src/client/request_signer.ts";
import { meshRegionApp } from "../../src/compose/mesh_region_app.ts";
import { AgentKey } from "../../src/crypto/agent_key.ts";
import {
  HTTP_SIGNATURE_FIELD_BYTES_MAX,
  signatureBase,
  signatureField,
  signatureParamsText,
} from "../../src/protocol/signature_base.ts";
import { utf8Encode } from "../../src/protocol/utf8.ts";
import { Registry } from "../../src/registry/registry.ts";
import { MemoryStore } from "../../src/store/memory_store.ts";
import { type RegionStore, StoreUnavailableError } from "../../src/store/region_store.ts";

const T_MS = 1_767_225_600_000;
const REQUIRED = ["@method", "@authority", "@path", "@query"];

function region(store: RegionStore = new MemoryStore()) {
  const now = () => T_MS;
  const registry = new Registry({ region: "eu-1", store, now });
  return { store, registry, app: meshRegionApp({ region: "eu-1", store, now, registry }) };
}

const urlOf = (key: AgentKey) => `http://eu-1.mesh.example/v1/agents/${key.id}/heartbeat`;

function params(key: AgentKey, nonce: string, extra: [string, unknown][] = []): Parameters {
  const map = new Map<string, unknown>([
    ["created", T_MS / 1000],
    ["keyid", key.id],
    ["nonce", nonce],
    ["alg", "ed25519"],
    ["tag", "mesh-agent"],
  ]);
  for (const [k, v] of extra) map.set(k, v);
  return map as Parameters;
}

/** A validly signed request over chosen components and header fields. */
function signed(
  key: AgentKey,
  components: string[],
  p: Parameters,
  fields: [string, string][] = [],
) {
  const url = urlOf(key);
  const headers = new Headers(fields);
  const base = signatureBase({ method: "POST", url, headers }, { components, params: p });
  if (typeof base !== "string") return null;
  headers.set("signature-input", `mesh=${signatureParamsText({ components, params: p })}`);
  headers.set("signature", signatureField("mesh", key.sign(utf8Encode(base))));
  return new Request(url, { method: "POST", headers });
}

async function outcome(response: Response): Promise<string> {
  const body = response.status === 204 ? null : await response.json();
  assert.ok(response.status < 500 || response.status === 503, `${response.status}`);
  if (response.status === 204) return "ok";
  return response.headers.get("www-authenticate")?.match(/error="(\w+)"/)?.[1] ??
    `${response.status} ${body.type}`;
}

Deno.test("sig edges: shapes the parser takes but the profile refuses are 401, never 500", async () => {
  const { app } = region();
  const key = AgentKey.generate();
  const good = (await signRequest(key, new Request(urlOf(key), { method: "POST" }), {
    nowMs: T_MS,
  })).headers;
  const input = good.get("signature-input")!;
  const signature = good.get("signature")!;
  const member = input.slice("mesh=".length);
  const cases: [string, string, string][] = [
    ["item, not inner list", "mesh=1", signature],
    ["token tag", member.replace('tag="mesh-agent"', "tag=mesh-agent"), signature],
    ["byte-sequence keyid", input.replace(/keyid="[^"]+"/, "keyid=:AAAA:"), signature],
    ["boolean signature", input, "mesh"],
    ["string signature", input, 'mesh="x"'],
    ["63-byte signature", input, `mesh=:${btoa("x".repeat(63))}:`],
    ["65-byte signature", input, `mesh=:${btoa("x".repeat(65))}:`],
    ["signature under another label", input, signature.replace("mesh=", "other=")],
    ["two tagged members", `${input}, again=${member}`, signature],
    ["five members", `${input}, a=(), b=(), c=(), d=()`, signature],
    ["inner list in the components", input.replace('"@query"', '("@query")'), signature],
    ["component with ;req", input.replace('"@query"', '"@query";req'), signature],
    ["upper-case header name", input.replace('"@query"', '"@query" "Host"'), signature],
    ["@query-param", input.replace('"@query"', '"@query" "@query-param"'), signature],
    ["@status", input.replace('"@query"', '"@query" "@status"'), signature],
    ["created too large", input.replace(/created=\d+/, "created=999999999999999"), signature],
    [
      "created decimal too large",
      input.replace(/created=\d+/, "created=999999999999.999"),
      signature,
    ],
    ["created negative", input.replace(/created=\d+/, "created=-1"), signature],
    [
      "field past the bound",
      `${input},${" ".repeat(HTTP_SIGNATURE_FIELD_BYTES_MAX)}x=()`,
      signature,
    ],
    ["not a dictionary", "(((", signature],
    ["only Signature-Input", input, ""],
  ];
  for (const [label, inputText, signatureText] of cases) {
    const headers = new Headers({ "signature-input": inputText });
    if (signatureText !== "") headers.set("signature", signatureText);
    const result = await outcome(
      await app.request(new Request(urlOf(key), { method: "POST", headers })),
    );
    assert.notEqual(result, "ok", label);
    assert.ok(
      ["malformed", "missing", "bad_signature", "stale", "replayed"].includes(result),
      `${label}: ${result}`,
    );
  }
  // None of the above spent the nonce: the valid request is still accepted.
  assert.equal(
    await outcome(await app.request(new Request(urlOf(key), { method: "POST", headers: good }))),
    "ok",
  );
});

Deno.test("sig edges: odd covered components — the signature fields themselves, obs-text values", async () => {
  const { app } = region();
  const key = AgentKey.generate();
  // Covering signature-input: the base would hold the field that holds the base's last line. The
  // signer cannot produce it, and the region neither crashes nor accepts.
  const p = params(key, "covers-its-input-0");
  const selfCovering = signed(key, [...REQUIRED, "signature-input"], p, [["signature-input", "x"]]);
  assert.ok(selfCovering !== null);
  assert.equal(await outcome(await app.request(selfCovering)), "bad_signature");
  // A covered header with a byte above 0x7e: refused as not printable ASCII.
  const url = urlOf(key);
  const headers = new Headers([["x-note", "caf\u00e9"]]);
  const p2 = params(key, "obs-text-value-00");
  headers.set(
    "signature-input",
    `mesh=${signatureParamsText({ components: [...REQUIRED, "x-note"], params: p2 })}`,
  );
  headers.set("signature", `mesh=:${btoa("x".repeat(64))}:`);
  assert.equal(
    await outcome(await app.request(new Request(url, { method: "POST", headers }))),
    "malformed",
  );
  // A covered header the request lacks.
  const lacking = new Headers(headers);
  lacking.delete("x-note");
  assert.equal(
    await outcome(await app.request(new Request(url, { method: "POST", headers: lacking }))),
    "malformed",
  );
  // Extra components and unknown parameters, validly signed: accepted, as §21.1 says.
  const extra = signed(
    key,
    [...REQUIRED, "@target-uri", "@scheme", "@request-target", "x-note"],
    params(key, "extra-components-0", [["purpose", "hb"]]),
    [["x-note", "hello"]],
  );
  assert.equal(await outcome(await app.request(extra!)), "ok");
});

Deno.test("sig edges: the store failing at each step is 503 with Retry-After; a failed claim burns no nonce", async () => {
  const inner = new MemoryStore();
  let failOn: string | null = null;
  const store = new Proxy(inner, {
    get(target, name, receiver) {
      const value = Reflect.get(target, name, receiver);
      if (typeof value !== "function") return value;
      return (...args: unknown[]) => {
        if (name === failOn) return Promise.reject(new StoreUnavailableError("down"));
        return value.apply(target, args);
      };
    },
  }) as RegionStore;
  const { app } = region(store);
  const key = AgentKey.generate();
  const request = await signRequest(key, new Request(urlOf(key), { method: "POST" }), {
    nowMs: T_MS,
  });
  // The nonce is claimed before the token is drawn (so concurrent replays cannot spend the
  // agent's budget): a store failure at the claim leaves the nonce unclaimed, one after it does
  // not — the agent then signs a new heartbeat, as it would anyway.
  const attempt = async (step: string | null) => {
    failOn = step;
    const response = await app.request(request.clone());
    await response.body?.cancel();
    return response;
  };
  const claimFails = await attempt("claimNonce");
  assert.equal(claimFails.status, 503);
  assert.ok(claimFails.headers.get("retry-after"));
  assert.equal((await attempt(null)).status, 204, "the retry of the same request");
  assert.equal((await attempt(null)).status, 401, "then it is a replay");
  const fresh = await signRequest(key, new Request(urlOf(key), { method: "POST" }), {
    nowMs: T_MS,
  });
  failOn = "takeTokensMany";
  const tokenFails = await app.request(fresh.clone());
  await tokenFails.body?.cancel();
  assert.equal(tokenFails.status, 503);
  assert.ok(tokenFails.headers.get("retry-after"));
});
