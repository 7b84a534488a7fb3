/**
 * Review of signed agent requests: the region's signature base against an independent RFC 9421
 * implementation (npm `http-message-signatures`, pinned in deno.json for tests only) and the
 * RFC's own component examples (§2.2.1–§2.2.7).
 *
 * - A heartbeat signed by the independent library is accepted by the region; the SDK's signature
 *   verifies in the independent library; both libraries build the same base for the derived
 *   components over a corpus of awkward URLs (host case, default and other ports, IPv6, IDN,
 *   percent-encoding, dot segments, duplicate and empty queries, characters URL parsing escapes).
 * - Component values are those of RFC 9421 §2.2's examples.
 */
import assert from "node:assert/strict";
import { Buffer } from "node:buffer";
import { httpbis } from "http-message-signatures";
import type { Parameters } from "structured-headers";
import { signRequest } from "../../src/client/request_signer.ts";
import { meshRegionApp } from "../../src/compose/mesh_region_app.ts";
import { AgentKey } from "../../src/crypto/agent_key.ts";
import { verifyEd25519 } from "../../src/crypto/ed25519.ts";
import { decodeBase64Url } from "../../src/protocol/base64url.ts";
import {
  componentValue,
  DERIVED_COMPONENTS,
  signatureBase,
} from "../../src/protocol/signature_base.ts";
import { Registry } from "../../src/registry/registry.ts";
import { MemoryStore } from "../../src/store/memory_store.ts";

const T_MS = 1_767_225_600_000;

function region() {
  const store = new MemoryStore();
  const now = () => T_MS;
  const registry = new Registry({ region: "eu-1", store, now });
  return { store, registry, app: meshRegionApp({ region: "eu-1", store, now, registry }) };
}

/** Signs `url` as the agent with the independent library (its own base and field writing). */
async function libSigned(key: AgentKey, url: string, nonce: string): Promise<Request> {
  const signed = await httpbis.signMessage(
    {
      key: {
        id: key.id,
        alg: "ed25519",
        sign: (data: Buffer) => Promise.resolve(Buffer.from(key.sign(new Uint8Array(data)))),
      },
      fields: ["@method", "@authority", "@path", "@query"],
      params: ["created", "keyid", "nonce", "alg", "tag"],
      paramValues: { created: new Date(T_MS), nonce, tag: "mesh-agent" },
      name: "agent",
    },
    { method: "POST", url, headers: {} },
  );
  return new Request(url, { method: "POST", headers: signed.headers as Record<string, string> });
}

Deno.test("sig interop: a heartbeat signed by http-message-signatures is accepted by the region", async () => {
  const { app } = region();
  for (const authority of ["eu-1.mesh.example", "EU-1.mesh.example:80", "127.0.0.1:8124"]) {
    const key = AgentKey.generate();
    const url = `http://${authority}/v1/agents/${key.id}/heartbeat`;
    const request = await libSigned(key, url, "independent-000000");
    assert.match(request.headers.get("signature-input")!, /^agent=\("@method"/);
    const response = await app.request(request);
    assert.equal(response.status, 204, `${authority}: ${await response.text()}`);
  }
});

Deno.test("sig interop: the SDK's signature verifies in http-message-signatures", async () => {
  const key = AgentKey.generate();
  const url = `https://eu-1.mesh.example/v1/agents/${key.id}/heartbeat?a=1&b=two`;
  const signed = await signRequest(key, new Request(url, { method: "POST" }), { nowMs: T_MS });
  const headers = Object.fromEntries(signed.headers);
  let verified = 0;
  const result = await httpbis.verifyMessage(
    {
      notAfter: Math.floor(T_MS / 1000) + 10,
      keyLookup: (params: Record<string, unknown>) =>
        Promise.resolve({
          id: params.keyid as string,
          algs: ["ed25519"],
          verify: async (data: Buffer, signature: Buffer) => {
            verified++;
            return await verifyEd25519(
              decodeBase64Url(params.keyid as string)!,
              new Uint8Array(signature),
              new Uint8Array(data),
            );
          },
        }),
    },
    { method: "POST", url, headers },
  );
  assert.equal(verified, 1);
  assert.equal(result, true);
});

const CORPUS = [
  "http://example.com/foo?param=Value&Pet=dog",
  "https://EU-1.Mesh.Example:443/v1/agents/x/heartbeat",
  "http://eu-1.mesh.example:80/v1/agents/x/heartbeat",
  "http://eu-1.mesh.example:8124/a/b/../c?x=%41&y=a+b",
  "http://[::1]:8080/p?q",
  "http://example.com",
  "http://example.com/p?",
  "http://example.com/%7Euser/caf%C3%A9?name=caf%C3%A9&x=%2F",
  "http://example.com/p?a=1&a=2&a",
  "http://example.com/p?q='\"<>`",
  "http://example.com/p q?r s",
  "http://xn--caf-dma.example/",
  "http://café.example/",
];

Deno.test("sig interop: both implementations build the same base for every derived component", () => {
  const params: Parameters = new Map<string, string | number>([
    ["created", 1],
    ["keyid", "k"],
  ]) as Parameters;
  for (const raw of CORPUS) {
    // The region sees Deno's request URL; `new URL(raw).href` is what both the SDK and a fetch
    // client put on the wire, and what the independent library also parses.
    const url = new URL(raw).href;
    const components = [...DERIVED_COMPONENTS];
    const ours = signatureBase({ method: "POST", url, headers: new Headers() }, {
      components,
      params,
    });
    assert.equal(typeof ours, "string", raw);
    const theirs = httpbis.formatSignatureBase(
      httpbis.createSignatureBase({ fields: components }, {
        method: "POST",
        url,
        headers: {},
      }),
    );
    const oursLines = (ours as string).split("\n").slice(0, -1);
    const theirLines = theirs.split("\n");
    // The one difference, for a present but empty query: see the ignored test below.
    const emptyQuery = url.endsWith("?");
    const skip = (line: string) => emptyQuery && /^"@(target-uri|request-target)"/.test(line);
    assert.deepEqual(oursLines.filter((l) => !skip(l)), theirLines.filter((l) => !skip(l)), raw);
  }
});

// Was a defect (fixed; this guards it) (low, interoperability): for a request target with an empty query (`/p?`), the region
// derives `@target-uri` as `http://example.com/p` and `@request-target` as `/p`, dropping the `?`
// (componentValue() rebuilds them from URL.search, which is "" for an empty query). RFC 9421
// §2.2.2/§2.2.5 take the target as sent, `?` included; the independent library (and any signer
// that covers these optional components verbatim) signs `…/p?`, so its request is refused. Not
// exploitable (the two spellings name one resource). Fix: derive both from the raw request URL
// (`parts.url` up to the fragment), normalizing only the authority.
Deno.test({
  name: "sig: @target-uri and @request-target keep an empty query's ?",
  fn() {
    const url = "http://example.com/p?";
    const parts = { method: "GET", url, headers: new Headers() };
    assert.equal(componentValue(parts, "@target-uri"), "http://example.com/p?");
    assert.equal(componentValue(parts, "@request-target"), "/p?");
  },
});

Deno.test("sig interop: component values of RFC 9421 §2.2's examples", () => {
  const value = (url: string, name: string, method = "POST") =>
    componentValue({ method, url, headers: new Headers() }, name);
  // §2.2.1
  assert.equal(value("http://example.com/path?param=value", "@method"), "POST");
  // §2.2.2
  assert.equal(
    value("https://www.example.com/path?param=value", "@target-uri"),
    "https://www.example.com/path?param=value",
  );
  // §2.2.3 (Host: www.example.com)
  assert.equal(value("https://www.example.com/path?param=value", "@authority"), "www.example.com");
  // §2.2.4
  assert.equal(value("http://www.example.com/path?param=value", "@scheme"), "http");
  // §2.2.5
  assert.equal(
    value("https://www.example.com/path?param=value", "@request-target"),
    "/path?param=value",
  );
  // §2.2.6
  assert.equal(value("https://www.example.com/path?param=value", "@path"), "/path");
  // §2.2.7
  assert.equal(
    value("https://www.example.com/path?param=value&foo=bar&baz=bat%2Dman", "@query"),
    "?param=value&foo=bar&baz=bat%2Dman",
  );
  assert.equal(value("https://www.example.com/path?queryString", "@query"), "?queryString");
  assert.equal(value("https://www.example.com/path", "@query"), "?");
  assert.equal(value("https://www.example.com/path?", "@query"), "?");
  // Not derivable for a request: refused as unknown, never thrown.
  assert.equal(value("https://www.example.com/", "@status"), null);
  assert.equal(value("https://www.example.com/", "@query-param"), null);
});
