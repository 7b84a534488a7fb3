import assert from "node:assert/strict";
import { MeshClient } from "../../src/client/mesh_client.ts";
import { exactJsonText, parseView } from "../../src/client/view_json.ts";

const VIEW =
  '{"channel":"c","counters":{"big":18014398509481981,"neg":-36028797018963967,"n":3},"deltas":2,' +
  '"fingerprint":"f","gaps":{},"heads":{"a":2},"map":{"x":12345678901234567000,"y":{"z":1.5}},"sets":{}}';

Deno.test("parseView() reads counters beyond 2^53 exactly and leaves other numbers alone", () => {
  const view = parseView(VIEW);
  assert.deepEqual(view.counters, { big: 18014398509481981n, neg: -36028797018963967n, n: 3n });
  assert.equal(view.map.x, 12345678901234567000);
  assert.deepEqual(view.map.y, { z: 1.5 });
  assert.equal(view.heads.a, 2);
  assert.equal(view.deltas, 2);
});

Deno.test("exactJsonText() writes bigints as exact integers and round-trips a view", () => {
  assert.equal(exactJsonText(parseView(VIEW)), VIEW);
  assert.equal(exactJsonText({ n: 2n ** 70n }, 1), '{\n "n": 1180591620717411303424\n}');
});

Deno.test("parseView() refuses a document without counters", () => {
  assert.throws(() => parseView('{"channel":"c"}'), /no counters object/);
});

Deno.test("MeshClient.view() reads a region's counters exactly", async () => {
  const client = new MeshClient("http://region.test", {
    fetch: () =>
      Promise.resolve(new Response(VIEW, { headers: { "content-type": "application/json" } })),
  });
  assert.equal((await client.view("c")).counters.big, 18014398509481981n);
});

Deno.test("MeshClient names the URL it could not reach", async () => {
  const client = new MeshClient("http://region.test/", {
    fetch: () => Promise.reject(new TypeError("connection refused")),
  });
  await assert.rejects(client.health(), (error: Error) => {
    assert.equal(error.name, "MeshUnreachableError");
    assert.equal((error as unknown as { url: string }).url, "http://region.test");
    assert.match(
      error.message,
      /^health could not reach http:\/\/region\.test: connection refused$/,
    );
    return true;
  });
});
