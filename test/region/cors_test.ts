/**
 * CORS through `app.request()`: allowed and refused origins, preflights on every route (never a
 * 405), problem+json answers a browser can read, `*`, the default of none, the mounted registry
 * and mesh routes, and `MESH_CORS_ORIGINS` parsing.
 */
import assert from "node:assert/strict";
import { regionConfig } from "../../src/compose/config.ts";
import { meshRegionApp } from "../../src/compose/mesh_region_app.ts";
import { createRegionApp } from "../../src/region/app.ts";
import {
  CORS_ALLOW_HEADERS,
  CORS_MAX_AGE_S,
  CORS_ORIGINS_MAX,
  parseCorsOrigins,
} from "../../src/region/cors.ts";
import { MemoryStore } from "../../src/store/memory_store.ts";
import { T0_MS, testAgent } from "../support/signing.ts";

const PAGE = "https://agent.example";
const OTHER = "https://evil.example";

function region(corsOrigins?: string[]) {
  const store = new MemoryStore();
  return { store, app: createRegionApp({ region: "t", store, now: () => T0_MS, corsOrigins }) };
}

function corsHeaders(response: Response): Record<string, string> {
  return Object.fromEntries(
    [...response.headers].filter(([name]) => name.startsWith("access-control-")),
  );
}

function preflight(path: string, origin: string, method = "POST") {
  return new Request(`http://region.test${path}`, {
    method: "OPTIONS",
    headers: {
      origin,
      "access-control-request-method": method,
      "access-control-request-headers": "content-type,signature,signature-input,content-digest",
    },
  });
}

Deno.test("CORS: an allowed origin's requests carry Access-Control-Allow-Origin and expose Retry-After", async () => {
  const { app } = region([PAGE, "http://127.0.0.1:8080"]);
  const response = await app.request("/v1/channels", { headers: { origin: PAGE } });
  assert.equal(response.status, 200);
  assert.deepEqual(corsHeaders(response), {
    "access-control-allow-origin": PAGE,
    "access-control-expose-headers": "retry-after, www-authenticate, accept-signature, etag",
  });
  assert.equal(response.headers.get("vary"), "Origin");
  await response.body?.cancel();
});

Deno.test("CORS: an origin not allowed, or no Origin, gets no CORS header at all, preflight included", async () => {
  const { app } = region([PAGE]);
  for (const headers of [{ origin: OTHER }, { origin: "null" }, {}] as Record<string, string>[]) {
    const response = await app.request("/v1/channels", { headers });
    assert.equal(response.status, 200);
    assert.deepEqual(corsHeaders(response), {});
    await response.body?.cancel();
  }
  const refused = await app.request(preflight("/v1/deltas", OTHER));
  assert.equal(refused.status, 204);
  assert.deepEqual(corsHeaders(refused), {});
});

Deno.test("CORS: a preflight on any route is answered 204 with methods, headers and max age, never 405", async () => {
  const { app } = region([PAGE]);
  for (
    const [path, method] of [
      ["/v1/deltas", "POST"],
      ["/v1/channels", "GET"],
      ["/v1/channels/room", "GET"],
      ["/v1/channels/room/deltas", "GET"],
      ["/v1/health", "GET"],
      ["/v1/agents", "GET"],
      ["/v1/no-such-route", "GET"],
    ]
  ) {
    const response = await app.request(preflight(path, PAGE, method));
    assert.equal(response.status, 204, path);
    assert.equal(await response.text(), "");
    assert.deepEqual(corsHeaders(response), {
      "access-control-allow-origin": PAGE,
      "access-control-allow-methods": "GET, POST",
      "access-control-allow-headers": CORS_ALLOW_HEADERS,
      "access-control-max-age": String(CORS_MAX_AGE_S),
    }, path);
  }
  for (
    const name of [
      "content-type",
      "signature",
      "signature-input",
      "content-digest",
      "if-none-match",
    ]
  ) {
    assert.ok(CORS_ALLOW_HEADERS.split(", ").includes(name), name);
  }
  // An OPTIONS that is not a preflight is an ordinary request: 405 on a route, with CORS headers.
  const plain = await app.request("/v1/deltas", { method: "OPTIONS", headers: { origin: PAGE } });
  assert.equal(plain.status, 405);
  assert.equal(plain.headers.get("access-control-allow-origin"), PAGE);
  await plain.body?.cancel();
});

Deno.test("CORS: problem+json answers carry the headers, so a browser can read a 4xx or 503 body", async () => {
  const { app, store } = region([PAGE]);
  const headers = { origin: PAGE };
  const answers = [
    await app.request("/v1/channels?limit=0", { headers }), // 400
    await app.request("/v1/channels/%2F", { headers }), // 400
    await app.request("/v1/nothing", { headers }), // 404
    await app.request("/v1/channels", { method: "DELETE", headers }), // 405
    await app.request("/v1/deltas", {
      method: "POST",
      headers: { ...headers, "content-type": "text/plain" },
      body: "x",
    }), // 415
    await app.request("/v1/health", { headers: { ...headers, "x-big": "x".repeat(40_000) } }), // 431
  ];
  store.failing = true;
  answers.push(await app.request("/v1/channels", { headers })); // 503
  assert.deepEqual(answers.map((r) => r.status), [400, 400, 404, 405, 415, 431, 503]);
  for (const response of answers) {
    assert.equal(response.headers.get("content-type"), "application/problem+json");
    assert.equal(response.headers.get("access-control-allow-origin"), PAGE, `${response.status}`);
    assert.equal(
      response.headers.get("access-control-expose-headers"),
      "retry-after, www-authenticate, accept-signature, etag",
    );
    await response.body?.cancel();
  }
  assert.equal(answers.at(-1)!.headers.get("retry-after"), "1");
});

Deno.test("CORS: * allows any origin with Access-Control-Allow-Origin: * and no Vary", async () => {
  const { app } = region(["*"]);
  const response = await app.request("/v1/health", { headers: { origin: OTHER } });
  assert.equal(response.headers.get("access-control-allow-origin"), "*");
  assert.equal(response.headers.get("vary"), null);
  await response.body?.cancel();
  const pre = await app.request(preflight("/v1/deltas", OTHER));
  assert.equal(pre.status, 204);
  assert.equal(pre.headers.get("access-control-allow-origin"), "*");
});

Deno.test("CORS: by default no origin is allowed: no CORS headers, and a preflight is a 405", async () => {
  const { app } = region();
  const response = await app.request("/v1/health", { headers: { origin: PAGE } });
  assert.deepEqual(corsHeaders(response), {});
  assert.equal(response.headers.get("vary"), null);
  await response.body?.cancel();
  const pre = await app.request(preflight("/v1/deltas", PAGE));
  assert.equal(pre.status, 405);
  assert.deepEqual(corsHeaders(pre), {});
  await pre.body?.cancel();
});

Deno.test("CORS: the routes the composition root mounts (registry) carry the headers too", async () => {
  const store = new MemoryStore();
  const app = meshRegionApp({ region: "t", store, now: () => T0_MS, corsOrigins: [PAGE] });
  const agent = testAgent();
  for (const path of ["/v1/agents", `/v1/agents/${agent.key.id}`, "/v1/agents?limit=0"]) {
    const response = await app.request(path, { headers: { origin: PAGE } });
    assert.equal(response.headers.get("access-control-allow-origin"), PAGE, path);
    await response.body?.cancel();
  }
});

Deno.test("parseCorsOrigins() takes exact origins or * alone; MESH_CORS_ORIGINS names what is wrong", () => {
  assert.deepEqual(parseCorsOrigins(""), []);
  assert.deepEqual(parseCorsOrigins(" , "), []);
  assert.deepEqual(parseCorsOrigins("*"), ["*"]);
  assert.deepEqual(
    parseCorsOrigins("https://a.example, http://127.0.0.1:8080,https://a.example"),
    ["https://a.example", "http://127.0.0.1:8080"],
  );
  for (
    const bad of [
      "https://a.example/",
      "https://a.example/app",
      "https://A.example",
      "http://a.example:80",
      "ftp://a.example",
      "a.example",
      "*, https://a.example",
      "null",
      Array.from({ length: CORS_ORIGINS_MAX + 1 }, (_, i) => `https://a${i}.example`).join(","),
    ]
  ) {
    assert.throws(() => parseCorsOrigins(bad), TypeError, bad);
  }
  assert.deepEqual(regionConfig({}).MESH_CORS_ORIGINS, []);
  assert.deepEqual(regionConfig({ MESH_CORS_ORIGINS: PAGE }).MESH_CORS_ORIGINS, [PAGE]);
  assert.throws(
    () => regionConfig({ MESH_CORS_ORIGINS: "https://a.example/" }),
    /Cannot start region as MESH_CORS_ORIGINS is invalid: "https:\/\/a.example\/" is not an origin/,
  );
});
