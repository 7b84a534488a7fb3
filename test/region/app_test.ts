import assert from "node:assert/strict";
import { AgentKey } from "../../src/crypto/agent_key.ts";
import type { Envelope } from "../../src/client/mesh_client.ts";
import {
  CLOCK_SKEW_FUTURE_MS_MAX,
  DELTA_BODY_BYTES_MAX,
  DELTA_OPS_MAX,
  KEY_BYTES_MAX,
  PUSH_BYTES_MAX,
  PUSH_DELTAS_MAX,
  VALUE_DEPTH_MAX,
} from "../../src/protocol/limits.ts";
import { createRegionApp } from "../../src/region/app.ts";
import { MemoryStore } from "../../src/store/memory_store.ts";
import { bodyOf, idOf, signBody, T0_MS, testAgent } from "../support/signing.ts";

function region(store = new MemoryStore()) {
  const app = createRegionApp({ region: "test-1", store, now: () => T0_MS });
  return { app, store };
}

function push(app: ReturnType<typeof region>["app"], deltas: unknown, init: RequestInit = {}) {
  return app.request("/v1/deltas", {
    method: "POST",
    headers: { "content-type": "application/json" },
    body: JSON.stringify({ deltas }),
    ...init,
  });
}

async function results(response: Response) {
  assert.equal(response.status, 200, await response.clone().text());
  return (await response.json()).results as Record<string, unknown>[];
}

async function assertProblem(response: Response, status: number, slug: string) {
  assert.equal(response.status, status);
  assert.equal(response.headers.get("content-type"), "application/problem+json");
  const problem = await response.json();
  assert.equal(problem.type, `urn:mesh:problem:${slug}`);
  assert.equal(problem.status, status);
  assert.equal(typeof problem.title, "string");
  assert.equal(typeof problem.detail, "string");
}

async function storedCount(store: MemoryStore, channel = "c") {
  return (await store.listArrivals(channel, 0, 1000)).deltas.length;
}

Deno.test("POST /v1/deltas accepts signed deltas and answers per delta in input order", async () => {
  const { app, store } = region();
  const agent = testAgent();
  const a = agent.sign("c", [{ op: "set", key: "x", value: 1 }]);
  const b = agent.sign("c", [{ op: "inc", counter: "n", by: 2 }]);
  assert.deepEqual(await results(await push(app, [a, b])), [
    { id: idOf(a), status: "accepted" },
    { id: idOf(b), status: "accepted" },
  ]);
  assert.equal(await storedCount(store), 2);
});

Deno.test("POST /v1/deltas is idempotent: a repeat is duplicate and stores nothing", async () => {
  const { app, store } = region();
  const d = testAgent().sign("c", [{ op: "set", key: "x", value: 1 }]);
  await push(app, [d]);
  const viewBefore = await (await app.request("/v1/channels/c")).text();
  assert.deepEqual(await results(await push(app, [d, d])), [
    { id: idOf(d), status: "duplicate" },
    { id: idOf(d), status: "duplicate" },
  ]);
  assert.equal(await storedCount(store), 1);
  assert.equal(await (await app.request("/v1/channels/c")).text(), viewBefore);
});

Deno.test("POST /v1/deltas answers a second body for one seq seq_conflict and keeps both as evidence", async () => {
  const { app } = region();
  const key = AgentKey.generate();
  const first = signBody(
    key,
    JSON.stringify(bodyOf(key, { ops: [{ op: "set", key: "k", value: "first" }] })),
  );
  const second = signBody(
    key,
    JSON.stringify(bodyOf(key, { ops: [{ op: "set", key: "k", value: "second" }] })),
  );
  await push(app, [first]);
  const [r] = await results(await push(app, [second]));
  assert.equal(r.status, "rejected");
  assert.equal(r.reason, "seq_conflict");
  assert.match(String(r.detail), new RegExp(idOf(first)));
  // Both stay stored; the view now excludes the proven equivocator (equivocation_test.ts).
  const tail = await (await app.request("/v1/channels/c/deltas")).json();
  assert.deepEqual(tail.deltas, [first, second]);
  const view = await (await app.request("/v1/channels/c")).json();
  assert.equal(view.map.k, undefined);
});

Deno.test("POST /v1/deltas rejects forged and mis-tagged signatures", async () => {
  const { app, store } = region();
  const key = AgentKey.generate();
  const other = AgentKey.generate();
  const body = JSON.stringify(bodyOf(key));
  const good = signBody(key, body);
  const flipped = {
    body,
    sig: good.sig.slice(0, 10) + (good.sig[10] === "A" ? "B" : "A") + good.sig.slice(11),
  };
  const cases: [string, Envelope, string][] = [
    ["signed by another key", signBody(other, body), "bad_signature"],
    ["under another domain tag", signBody(key, body, "mesh.region.v1:"), "bad_signature"],
    ["without the domain tag", signBody(key, body, ""), "bad_signature"],
    ["one signature character changed", flipped, "bad_signature"],
    ["signature too short", { body, sig: good.sig.slice(0, 84) }, "bad_signature"],
    ["signature not base64url", { body, sig: good.sig.replace(/.$/, "=") }, "bad_signature"],
    ["signature with padding", { body, sig: good.sig + "==" }, "bad_signature"],
  ];
  for (const [what, envelope, reason] of cases) {
    const [r] = await results(await push(app, [envelope]));
    assert.equal(r.status, "rejected", what);
    assert.equal(r.reason, reason, what);
  }
  assert.equal(await storedCount(store), 0);
});

Deno.test("POST /v1/deltas rejects each schema violation with bad_schema and stores nothing", async () => {
  const { app, store } = region();
  const key = AgentKey.generate();
  const deep = (n: number): unknown => n === 0 ? 1 : [deep(n - 1)];
  const cases: Record<string, Record<string, unknown>> = {
    "unknown field": bodyOf(key, { extra: true }),
    "wrong version": bodyOf(key, { v: 2 }),
    "seq 0": bodyOf(key, { seq: 0 }),
    "non-integer seq": bodyOf(key, { seq: 1.5 }),
    "seq as string": bodyOf(key, { seq: "1" }),
    "seq beyond safe integers": bodyOf(key, { seq: 2 ** 53 }),
    "negative ts": bodyOf(key, { ts: -1 }),
    "lc beyond 32 bits": bodyOf(key, { lc: 2 ** 32 }),
    "bad channel": bodyOf(key, { channel: "has space" }),
    "channel too long": bodyOf(key, { channel: "c".repeat(65) }),
    "author not a key": bodyOf(key, { author: "abc" }),
    "no ops": bodyOf(key, { ops: [] }),
    "too many ops": bodyOf(key, {
      ops: Array.from({ length: DELTA_OPS_MAX + 1 }, () => ({ op: "del", key: "k" })),
    }),
    "unknown op": bodyOf(key, { ops: [{ op: "mul", key: "k" }] }),
    "op with extra field": bodyOf(key, { ops: [{ op: "del", key: "k", value: 1 }] }),
    "set without value": bodyOf(key, { ops: [{ op: "set", key: "k" }] }),
    "key over the limit": bodyOf(key, {
      ops: [{ op: "del", key: "é".repeat(KEY_BYTES_MAX / 2 + 1) }],
    }),
    "empty key": bodyOf(key, { ops: [{ op: "del", key: "" }] }),
    "value nested too deep": bodyOf(key, {
      ops: [{ op: "set", key: "k", value: deep(VALUE_DEPTH_MAX + 1) }],
    }),
    "inc by a fraction": bodyOf(key, { ops: [{ op: "inc", counter: "n", by: 0.5 }] }),
    "inc beyond safe integers": bodyOf(key, { ops: [{ op: "inc", counter: "n", by: -(2 ** 53) }] }),
    "rmv with a malformed tag": bodyOf(key, {
      ops: [{ op: "rmv", set: "s", elem: "e", tags: ["x:0"] }],
    }),
    "rmv without tags": bodyOf(key, { ops: [{ op: "rmv", set: "s", elem: "e", tags: [] }] }),
  };
  for (const [what, body] of Object.entries(cases)) {
    const [r] = await results(await push(app, [signBody(key, JSON.stringify(body))]));
    assert.equal(r.status, "rejected", what);
    assert.equal(r.reason, "bad_schema", what);
    assert.equal(typeof r.id, "string", what);
  }
  const huge = JSON.stringify(bodyOf(key)).replace('"value":1', '"value":1e400');
  const [r] = await results(await push(app, [signBody(key, huge)]));
  assert.equal(r.reason, "bad_schema", "a number that overflows to Infinity");
  assert.equal(await storedCount(store), 0);
});

Deno.test("POST /v1/deltas rejects malformed envelopes and bodies per delta", async () => {
  const { app, store } = region();
  const key = AgentKey.generate();
  const valid = signBody(key, JSON.stringify(bodyOf(key)));
  const bigBody = JSON.stringify(bodyOf(key, {
    ops: [{ op: "set", key: "k", value: "x".repeat(DELTA_BODY_BYTES_MAX) }],
  }));
  const cases: [string, unknown, string][] = [
    ["a number", 42, "bad_envelope"],
    ["null", null, "bad_envelope"],
    ["an array", [valid.body, valid.sig], "bad_envelope"],
    ["an extra field", { ...valid, id: "x" }, "bad_envelope"],
    ["body not a string", { body: bodyOf(key), sig: valid.sig }, "bad_envelope"],
    [
      "lone surrogate in body",
      { body: valid.body.replace('"k"', '"\ud800"'), sig: valid.sig },
      "bad_encoding",
    ],
    ["body over the limit", signBody(key, bigBody), "body_too_large"],
    ["body not JSON", signBody(key, "{not json"), "bad_json"],
    ["body JSON but not an object", signBody(key, "[1,2]"), "bad_schema"],
  ];
  for (const [what, envelope, reason] of cases) {
    const [r] = await results(await push(app, [envelope]));
    assert.equal(r.status, "rejected", what);
    assert.equal(r.reason, reason, what);
  }
  assert.equal(await storedCount(store), 0);
});

Deno.test("POST /v1/deltas rejects future timestamps beyond the skew and accepts old ones", async () => {
  const { app } = region();
  const key = AgentKey.generate();
  const future = signBody(
    key,
    JSON.stringify(bodyOf(key, { ts: T0_MS + CLOCK_SKEW_FUTURE_MS_MAX + 1 })),
  );
  const edge = signBody(
    key,
    JSON.stringify(bodyOf(key, { seq: 2, ts: T0_MS + CLOCK_SKEW_FUTURE_MS_MAX })),
  );
  const old = signBody(key, JSON.stringify(bodyOf(key, { seq: 3, ts: 1 })));
  const r = await results(await push(app, [future, edge, old]));
  assert.equal(r[0].reason, "future_timestamp");
  assert.equal(r[1].status, "accepted");
  assert.equal(r[2].status, "accepted");
});

Deno.test("POST /v1/deltas rejects writes to reserved system channels", async () => {
  const { app } = region();
  const key = AgentKey.generate();
  const [r] = await results(
    await push(app, [signBody(key, JSON.stringify(bodyOf(key, { channel: "_system" })))]),
  );
  assert.equal(r.reason, "reserved_channel");
  // `_equivocations` takes only equivocation proofs (equivocation_test.ts).
  const [p] = await results(
    await push(app, [signBody(key, JSON.stringify(bodyOf(key, { channel: "_equivocations" })))]),
  );
  assert.equal(p.reason, "bad_proof");
});

Deno.test("POST /v1/deltas answers whole-request errors as problem+json", async () => {
  const { app, store } = region();
  const d = testAgent().sign("c", [{ op: "del", key: "k" }]);
  const raw = (
    body: BodyInit | null,
    headers: Record<string, string> = { "content-type": "application/json" },
  ) => app.request("/v1/deltas", { method: "POST", headers, body });
  await assertProblem(await raw("{"), 400, "malformed-request");
  await assertProblem(await raw(""), 400, "malformed-request");
  await assertProblem(await raw(new Uint8Array([0x7b, 0xff, 0x7d])), 400, "malformed-request");
  await assertProblem(await raw("[]"), 400, "invalid-request");
  await assertProblem(await raw('{"deltas":{}}'), 400, "invalid-request");
  await assertProblem(await raw(JSON.stringify({ deltas: [d], more: 1 })), 400, "invalid-request");
  await assertProblem(await raw("1".padStart(100_000, "[")), 400, "malformed-request");
  await assertProblem(
    await raw(JSON.stringify({ deltas: [d] }), { "content-type": "text/plain" }),
    415,
    "unsupported-media-type",
  );
  await assertProblem(
    await raw(JSON.stringify({ deltas: [d] }), {}),
    415,
    "unsupported-media-type",
  );
  await assertProblem(
    await raw(JSON.stringify({ deltas: Array(PUSH_DELTAS_MAX + 1).fill(d) })),
    413,
    "payload-too-large",
  );
  await assertProblem(
    await raw("x", {
      "content-type": "application/json",
      "content-length": String(PUSH_BYTES_MAX + 1),
    }),
    413,
    "payload-too-large",
  );
  assert.equal(await storedCount(store), 0);
});

Deno.test("POST /v1/deltas cuts off a streamed body over the limit without reading it whole", async () => {
  const { app } = region();
  let pulled = 0;
  const chunk = new Uint8Array(64 * 1024).fill(0x20);
  const stream = new ReadableStream<Uint8Array>({
    pull(controller) {
      pulled += chunk.length;
      if (pulled > 100 * PUSH_BYTES_MAX) controller.close();
      else controller.enqueue(chunk);
    },
  });
  const response = await app.request("/v1/deltas", {
    method: "POST",
    headers: { "content-type": "application/json" },
    body: stream,
  });
  await assertProblem(response, 413, "payload-too-large");
  assert.ok(pulled <= PUSH_BYTES_MAX + 2 * chunk.length, `read ${pulled} bytes`);
});

Deno.test("POST /v1/deltas answers 503 with Retry-After when the store is down, and the retry stores once", async () => {
  const { app, store } = region();
  const agent = testAgent();
  const deltas = [
    agent.sign("c", [{ op: "del", key: "a" }]),
    agent.sign("c", [{ op: "del", key: "b" }]),
  ];
  store.failing = true;
  const response = await push(app, deltas);
  await assertProblem(response, 503, "store-unavailable");
  assert.equal(response.headers.get("retry-after"), "1");
  store.failing = false;
  assert.equal(await storedCount(store), 0);
  const r = await results(await push(app, deltas));
  assert.deepEqual(r.map((x) => x.status), ["accepted", "accepted"]);
});

Deno.test("GET /v1/channels/{channel} renders byte-identical views for one set pushed in any order", async () => {
  const agents = [testAgent(), testAgent(), testAgent()];
  const deltas: Envelope[] = [];
  for (let i = 0; i < 12; i++) {
    const agent = agents[i % 3];
    deltas.push(agent.sign("c", [
      { op: "set", key: `k${i % 4}`, value: { i } },
      { op: "add", set: "s", elem: `e${i % 5}` },
      { op: "inc", counter: "n", by: i - 6 },
    ]));
  }
  const one = region(), two = region();
  for (const d of deltas) await push(one.app, [d]);
  await push(two.app, [...deltas].reverse());
  const a = await (await one.app.request("/v1/channels/c")).text();
  const b = await (await two.app.request("/v1/channels/c")).text();
  assert.equal(a, b);
  const view = JSON.parse(a);
  assert.equal(view.deltas, 12);
  assert.equal(view.counters.n, -6);
  assert.deepEqual(Object.keys(view), [
    "channel",
    "counters",
    "deltas",
    "fingerprint",
    "gaps",
    "heads",
    "map",
    "sets",
  ]);
});

Deno.test("GET /v1/channels/{channel} of an unknown channel is an empty view", async () => {
  const { app } = region();
  const view = await (await app.request("/v1/channels/nothing-here")).json();
  assert.deepEqual({ ...view, fingerprint: undefined }, {
    channel: "nothing-here",
    counters: {},
    deltas: 0,
    fingerprint: undefined,
    gaps: {},
    heads: {},
    map: {},
    sets: {},
  });
});

Deno.test("GET /v1/channels/{channel}/deltas pages in arrival order with an opaque cursor", async () => {
  const { app } = region();
  const agent = testAgent();
  const sent = Array.from(
    { length: 7 },
    (_, i) => agent.sign("c", [{ op: "inc", counter: "n", by: i }]),
  );
  await push(app, sent);
  const seen: Envelope[] = [];
  let cursor = "0";
  for (;;) {
    const page = await (await app.request(`/v1/channels/c/deltas?after=${cursor}&limit=3`)).json();
    seen.push(...page.deltas);
    assert.equal(typeof page.cursor, "string");
    cursor = page.cursor;
    if (!page.more) break;
  }
  assert.deepEqual(seen, sent);
  const empty = await (await app.request(`/v1/channels/c/deltas?after=${cursor}`)).json();
  assert.deepEqual(empty, { deltas: [], cursor, more: false });
});

Deno.test("GET endpoints reject bad channel names and query parameters with 400", async () => {
  const { app } = region();
  for (
    const path of [
      "/v1/channels/bad%20name",
      "/v1/channels/" + "c".repeat(65),
      "/v1/channels/c/deltas?after=-1",
      "/v1/channels/c/deltas?after=1.5",
      "/v1/channels/c/deltas?after=abc",
      "/v1/channels/c/deltas?limit=0",
      "/v1/channels/c/deltas?limit=1001",
      "/v1/channels/c/deltas?after=99999999999999999999",
      "/v1/channels/c/authors/not-a-key",
    ]
  ) {
    await assertProblem(await app.request(path), 400, "invalid-request");
  }
});

Deno.test("GET /v1/channels/{channel}/authors/{author} reports the author's head", async () => {
  const { app } = region();
  const agent = testAgent();
  await push(app, [
    agent.sign("c", [{ op: "del", key: "a" }]),
    agent.sign("c", [{ op: "del", key: "b" }]),
  ]);
  const head = await (await app.request(`/v1/channels/c/authors/${agent.key.id}`)).json();
  assert.deepEqual(head, { channel: "c", author: agent.key.id, contiguous: 2, max: 2, count: 2 });
  const none = await (await app.request(`/v1/channels/c/authors/${AgentKey.generate().id}`)).json();
  assert.equal(none.max, 0);
});

Deno.test("GET /v1/health reports the region and 503 when the store is down", async () => {
  const { app, store } = region();
  assert.deepEqual(await (await app.request("/v1/health")).json(), {
    status: "ok",
    region: "test-1",
    store: "memory",
  });
  store.failing = true;
  await assertProblem(await app.request("/v1/health"), 503, "store-unavailable");
});

Deno.test("unknown routes are 404 and wrong methods 405, as problem+json", async () => {
  const { app } = region();
  await assertProblem(await app.request("/nope"), 404, "not-found");
  await assertProblem(await app.request("/v1/deltas"), 405, "method-not-allowed");
  await assertProblem(
    await app.request("/v1/channels/c", { method: "DELETE" }),
    405,
    "method-not-allowed",
  );
});

Deno.test("POST /v1/deltas rejects bodies that repeat a member name, even spelled with escapes", async () => {
  const { app, store } = region();
  const key = AgentKey.generate();
  const base = JSON.stringify(bodyOf(key));
  const repeatedSeq = base.replace('"seq":1', '"seq":3,"seq":1');
  const escapedName = base.replace('"seq":1', '"seq":1,"s\\u0065q":2');
  const repeatedInValue = JSON.stringify(
    bodyOf(key, { ops: [{ op: "set", key: "k", value: { a: 1 } }] }),
  )
    .replace('{"a":1}', '{"a":1,"a":2}');
  for (const body of [repeatedSeq, escapedName, repeatedInValue]) {
    const [r] = await results(await push(app, [signBody(key, body)]));
    assert.equal(r.reason, "bad_json", body);
  }
  const sameNameElsewhere = JSON.stringify(
    bodyOf(key, { ops: [{ op: "set", key: "k", value: { seq: 1, k: [{ k: 1 }] } }] }),
  );
  assert.equal(
    (await results(await push(app, [signBody(key, sameNameElsewhere)])))[0].status,
    "accepted",
  );
  assert.equal(await storedCount(store), 1);
});

Deno.test("POST /v1/deltas rejects lone surrogates written as escapes in keys, elements and values", async () => {
  const { app, store } = region();
  const key = AgentKey.generate();
  const bodies = [
    JSON.stringify(bodyOf(key, { ops: [{ op: "del", key: "\ud800" }] })),
    JSON.stringify(bodyOf(key, { ops: [{ op: "add", set: "s", elem: "x\udc00" }] })),
    JSON.stringify(bodyOf(key, { ops: [{ op: "set", key: "k", value: ["\ud800"] }] })),
    JSON.stringify(bodyOf(key, { ops: [{ op: "set", key: "k", value: { "\udfff": 1 } }] })),
  ];
  for (const body of bodies) {
    assert.ok(body.isWellFormed(), "JSON.stringify escapes lone surrogates");
    const [r] = await results(await push(app, [signBody(key, body)]));
    assert.equal(r.reason, "bad_schema", body);
  }
  assert.equal(await storedCount(store), 0);
});

Deno.test("POST /v1/deltas rejects rmv tags whose op index no delta can have", async () => {
  const { app } = region();
  const key = AgentKey.generate();
  const tag = `${idOf(testAgent().sign("c", [{ op: "del", key: "k" }]))}:${DELTA_OPS_MAX}`;
  const [r] = await results(
    await push(app, [
      signBody(
        key,
        JSON.stringify(bodyOf(key, { ops: [{ op: "rmv", set: "s", elem: "e", tags: [tag] }] })),
      ),
    ]),
  );
  assert.equal(r.reason, "bad_schema");
});

Deno.test("wrong methods answer 405 with an Allow header on every route", async () => {
  const { app } = region();
  for (
    const [path, allow] of [
      ["/v1/deltas", "POST"],
      ["/v1/health", "GET"],
      ["/v1/channels/c", "GET"],
      ["/v1/channels/c/deltas", "GET"],
      [`/v1/channels/c/authors/${AgentKey.generate().id}`, "GET"],
    ]
  ) {
    const response = await app.request(path, { method: allow === "GET" ? "PUT" : "GET" });
    assert.equal(response.headers.get("allow"), allow, path);
    await assertProblem(response, 405, "method-not-allowed");
  }
});

Deno.test("a problem's instance is the path as sent, percent-encoding kept", async () => {
  const { app } = region();
  const problem = await (await app.request("/v1/channels/bad%20name")).json();
  assert.equal(problem.instance, "/v1/channels/bad%20name");
});
