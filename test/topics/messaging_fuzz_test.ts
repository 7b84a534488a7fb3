/**
 * Hostile input on the topic and mailbox routes, fuzzed like `/v1/deltas`: arbitrary bytes and
 * JSON (shaped like their bodies or not, valid envelopes with one character changed), arbitrary
 * path segments, query strings, cursors (`Last-Event-ID`) and signature fields. Never a 500; every
 * refusal is problem+json; nothing is written (the region log does not move); still healthy.
 */
import assert from "node:assert/strict";
import fc from "fast-check";
import { InProcessMesh } from "../support/in_process_mesh.ts";
import { testAgent } from "../support/signing.ts";
import { directMessage } from "../mailbox/_mail.ts";
import { topicMessage } from "./_topics.ts";

const CONTENT_TYPES = ["application/json", "text/plain", "application/octet-stream", ""];

async function region() {
  const mesh = new InProcessMesh([{ id: "eu-1", zone: "eu" }]);
  for (let i = 0; i < 4; i++) await mesh.tick();
  const agent = testAgent(() => mesh.nowMs), bob = testAgent(() => mesh.nowMs);
  const topic = await topicMessage(agent, "room", { n: 1 });
  const dm = await directMessage(agent, bob.key.id, "hi");
  const app = mesh.region("eu-1").app;
  for (
    const [path, field, m] of [["/v1/topics/room", "messages", topic], [
      "/v1/messages",
      "messages",
      dm,
    ]] as const
  ) {
    const response = await app.request(path, {
      method: "POST",
      headers: { "content-type": "application/json" },
      body: JSON.stringify({ [field]: [m] }),
    });
    assert.equal((await response.json()).results[0].status, "accepted");
  }
  return { app, store: mesh.region("eu-1").store, valid: [topic, dm], bob: bob.key.id };
}

const segment = fc.oneof(
  fc.constantFrom("room", "a.b", "a.*", "a.>", ">", "*", "a..b", ".", "..", "_x", "x".repeat(80)),
  fc.string({ maxLength: 70 }),
).map(encodeURIComponent);
const query = fc.oneof(
  fc.constant(""),
  fc.record({
    name: fc.constantFrom("since", "cursor", "wait", "limit", "after", "x"),
    value: fc.oneof(fc.string({ maxLength: 40 }), fc.integer().map(String)),
  }).map(({ name, value }) => `?${name}=${encodeURIComponent(value)}`),
);

function routeOf(kind: number, seg: string, q: string, bob: string): [string, string] {
  switch (kind) {
    case 0:
      return ["POST", `/v1/topics/${seg}`];
    case 1:
      return ["GET", `/v1/topics/${seg}/messages${q}`];
    case 2:
      return ["GET", `/v1/topics/${seg}/events${q}`];
    case 3:
      return ["POST", "/v1/messages"];
    case 4:
      return ["GET", `/v1/agents/${bob}/inbox${q}`];
    default:
      return ["POST", `/v1/agents/${kind === 5 ? bob : seg}/inbox/ack`];
  }
}

Deno.test("topic and mailbox routes answer hostile input below 500, as problem+json, writing nothing", async () => {
  const { app, store, valid, bob } = await region();
  const head = await store.logHead();
  const json = fc.jsonValue({ maxDepth: 5 });
  const mutated = fc.tuple(
    fc.nat(1),
    fc.boolean(),
    fc.nat(),
    fc.string({ minLength: 1, maxLength: 1 }),
  )
    .map(([which, inBody, at, c]) => {
      const envelope = valid[which];
      const field = inBody ? "body" : "sig";
      const text = envelope[field];
      const i = at % text.length;
      return { ...envelope, [field]: text.slice(0, i) + c + text.slice(i + 1) };
    });
  const envelope = fc.oneof(json, mutated, fc.record({ body: fc.string(), sig: fc.string() }));
  const body = fc.oneof(
    fc.uint8Array({ maxLength: 512 }),
    json.map((v) => JSON.stringify(v)),
    fc.record({ messages: fc.array(envelope, { maxLength: 4 }) }).map((v) => JSON.stringify(v)),
    fc.record({ acks: fc.array(envelope, { maxLength: 4 }) }).map((v) => JSON.stringify(v)),
  );
  const headerText = fc.string({ maxLength: 200 }).map((s) => s.replace(/[^\x20-\x7e]/g, ""));
  await fc.assert(
    fc.asyncProperty(
      fc.nat(6),
      segment,
      query,
      body,
      fc.constantFrom(...CONTENT_TYPES),
      fc.record({
        "last-event-id": fc.option(headerText),
        "signature-input": fc.option(headerText),
        signature: fc.option(headerText),
      }),
      async (kind, seg, q, payload, type, fields) => {
        const [method, path] = routeOf(kind, seg, q, bob);
        const headers: Record<string, string> = {};
        if (type !== "") headers["content-type"] = type;
        for (const [name, value] of Object.entries(fields)) if (value) headers[name] = value;
        const response = await app.request(path, {
          method,
          headers,
          body: method === "GET" ? undefined : payload,
        });
        const contentType = response.headers.get("content-type") ?? "";
        await response.body?.cancel();
        assert.ok(response.status < 500, `${method} ${path} answered ${response.status}`);
        if (response.status >= 400) {
          assert.equal(contentType, "application/problem+json", `${method} ${path}`);
        }
      },
    ),
    { numRuns: 400 },
  );
  assert.equal(await store.logHead(), head, "hostile input wrote something");
  assert.equal((await app.request("/v1/health")).status, 200);
});
