/**
 * Property-based fuzzing of every endpoint of a region that runs in a mesh: arbitrary bytes and
 * arbitrary JSON, wrapped or not in the shapes the endpoints expect, with assorted content types.
 * For every request: the status is below 500; nothing is stored (random input cannot carry a
 * valid signature, so the region log must not move); and the region is still healthy after.
 */
import assert from "node:assert/strict";
import fc from "fast-check";
import { SIGNATURE_HEADER } from "../../src/mesh/region_message.ts";
import { InProcessMesh } from "../support/in_process_mesh.ts";
import { testAgent } from "../support/signing.ts";

const ROUTES: [string, string][] = [
  ["POST", "/v1/deltas"],
  ["POST", "/v1/peer/deltas"],
  ["POST", "/v1/peer/heartbeat"],
  ["POST", "/v1/sync"],
  ["POST", "/v1/sync?channel=room"],
  ["POST", "/v1/sync/fetch"],
  ["GET", "/v1/channels"],
  ["GET", "/v1/channels?prefix=ro&limit=2"],
  ["GET", "/v1/channels/room"],
  ["GET", "/v1/channels/room/deltas"],
  ["GET", "/v1/status"],
  ["GET", "/v1/health"],
  ["GET", "/v1/proposals"],
  ["GET", "/v1/proposals?state=open&limit=5"],
  ["GET", `/v1/proposals/${"A".repeat(43)}?votes_limit=3`],
];
const CONTENT_TYPES = [
  "application/json",
  "application/json; charset=utf-8",
  "application/octet-stream",
  "text/plain",
  "",
];

async function region() {
  const mesh = new InProcessMesh([{ id: "eu-1", zone: "eu" }, { id: "us-1", zone: "us" }]);
  for (let i = 0; i < 4; i++) await mesh.tick();
  const agent = testAgent(() => mesh.nowMs);
  const valid = agent.sign("room", [{ op: "set", key: "k", value: 1 }]);
  await mesh.push("eu-1", [valid]);
  return { mesh, app: mesh.region("eu-1").app, store: mesh.region("eu-1").store, valid };
}

async function send(
  app: Awaited<ReturnType<typeof region>>["app"],
  method: string,
  path: string,
  body: BodyInit | undefined,
  type: string,
  signature?: string,
) {
  const headers: Record<string, string> = {};
  if (type !== "") headers["content-type"] = type;
  if (signature !== undefined) headers[SIGNATURE_HEADER] = signature;
  const response = await app.request(path, {
    method,
    headers,
    body: method === "GET" ? undefined : body,
  });
  await response.body?.cancel();
  return response.status;
}

Deno.test("every endpoint answers arbitrary bytes below 500 and stores nothing", async () => {
  const { app, store } = await region();
  const head = await store.logHead();
  await fc.assert(
    fc.asyncProperty(
      fc.constantFrom(...ROUTES),
      fc.uint8Array({ maxLength: 2_048 }),
      fc.constantFrom(...CONTENT_TYPES),
      fc.option(fc.string({ maxLength: 100 })),
      async ([method, path], bytes, type, signature) => {
        const status = await send(app, method, path, bytes, type, signature ?? undefined);
        assert.ok(status < 500, `${method} ${path} answered ${status}`);
      },
    ),
    { numRuns: 300 },
  );
  assert.equal(await store.logHead(), head);
  assert.equal(await send(app, "GET", "/v1/health", undefined, ""), 200);
});

Deno.test("every endpoint answers arbitrary JSON, shaped or not, below 500 and stores nothing", async () => {
  const { app, store, valid } = await region();
  const head = await store.logHead();
  const json = fc.jsonValue({ maxDepth: 6 });
  const envelope = fc.oneof(
    json,
    fc.record({
      body: fc.oneof(fc.string(), json.map((v) => JSON.stringify(v))),
      sig: fc.string(),
    }),
    // A valid envelope with one character of its body or signature changed.
    fc.tuple(fc.boolean(), fc.nat(), fc.string({ minLength: 1, maxLength: 1 })).map(
      ([inBody, at, c]) => {
        const field = inBody ? "body" : "sig";
        const text = valid[field];
        const i = at % text.length;
        return { ...valid, [field]: text.slice(0, i) + c + text.slice(i + 1) };
      },
    ),
  );
  const payload = fc.oneof(
    json,
    fc.record({ deltas: fc.array(envelope, { maxLength: 8 }) }),
    fc.record({ ids: fc.array(fc.oneof(fc.string(), json), { maxLength: 8 }) }),
    fc.record({
      v: fc.constant(1),
      kind: fc.constantFrom("deltas", "heartbeat"),
      from: fc.constantFrom("us-1", "eu-1", "x"),
      to: fc.constantFrom("eu-1", "us-1"),
      sentAtMs: fc.integer(),
      nonce: fc.string(),
      epoch: fc.integer(),
      origin: fc.constantFrom("zone", "remote", "relay", "sync", "agent"),
      deltas: fc.array(envelope, { maxLength: 4 }),
      summary: json,
    }),
  );
  await fc.assert(
    fc.asyncProperty(
      fc.constantFrom(...ROUTES),
      payload,
      fc.constantFrom(...CONTENT_TYPES),
      fc.option(fc.string({ maxLength: 100 })),
      async ([method, path], value, type, signature) => {
        const status = await send(
          app,
          method,
          path,
          JSON.stringify(value),
          type,
          signature ?? undefined,
        );
        assert.ok(
          status < 500,
          `${method} ${path} answered ${status} to ${JSON.stringify(value).slice(0, 200)}`,
        );
      },
    ),
    { numRuns: 400 },
  );
  assert.equal(await store.logHead(), head, "nothing was stored");
  assert.equal(await send(app, "GET", "/v1/health", undefined, ""), 200);
});

Deno.test("arbitrary paths, methods and query strings never answer 500", async () => {
  const { app } = await region();
  const segment = fc.oneof(
    fc.constantFrom(
      "v1",
      "channels",
      "deltas",
      "authors",
      "peer",
      "sync",
      "status",
      "health",
      "room",
      "%",
      "%ff",
      "..",
      "_x",
    ),
    fc.string({ maxLength: 70 }).map(encodeURIComponent),
  );
  await fc.assert(
    fc.asyncProperty(
      fc.constantFrom("GET", "POST", "PUT", "DELETE", "PATCH", "HEAD", "OPTIONS"),
      fc.array(segment, { maxLength: 5 }),
      fc.dictionary(
        fc.constantFrom("after", "limit", "channel", "prefix", "cursor", "x"),
        fc.string({ maxLength: 30 }),
      ),
      async (method, segments, query) => {
        const path = "/" + segments.join("/") + "?" + new URLSearchParams(query);
        const status = await send(app, method, path, undefined, "");
        assert.ok(status < 500, `${method} ${path} answered ${status}`);
      },
    ),
    { numRuns: 400 },
  );
});

Deno.test("conditional and waiting channel reads: any If-None-Match, wait, after and limit answer below 500", async () => {
  const { app } = await region();
  const tag = (await app.request("/v1/channels/room")).headers.get("etag")!;
  const wait = fc.oneof(
    fc.constantFrom("0", "1", "", "31", "-1", "1e1", " 1", "0x1"),
    fc.string({ maxLength: 6 }),
  );
  const header = fc.oneof(
    fc.constantFrom(tag, `W/${tag}`, `"x", ${tag}`, "*", '""', ",", "W/"),
    fc.string({ maxLength: 40 }),
  );
  await fc.assert(
    fc.asyncProperty(
      fc.constantFrom("/v1/channels/room", "/v1/channels/room/deltas", "/v1/channels/none"),
      wait,
      header,
      fc.option(fc.constantFrom("0", "1", "999", "x"), { nil: undefined }),
      async (path, w, inm, after) => {
        const query = new URLSearchParams({ wait: w });
        if (after !== undefined) query.set("after", after);
        const response = await app.request(`${path}?${query}`, {
          headers: inm === "" ? {} : { "if-none-match": inm },
        });
        await response.body?.cancel();
        assert.ok(response.status < 500, `${path}?${query} (${inm}) answered ${response.status}`);
        assert.ok([200, 304, 400].includes(response.status), `${response.status}`);
      },
    ),
    { numRuns: 120 },
  );
});
