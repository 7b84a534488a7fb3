import assert from "node:assert/strict";
import { AgentKey } from "../../src/crypto/agent_key.ts";
import { Topology } from "../../src/mesh/topology.ts";

const key = () => AgentKey.generate().id;
const file = (zones: unknown) => JSON.stringify({ v: 1, zones });

Deno.test("Topology.parse() reads zones, regions, peers and the majority", () => {
  const t = Topology.parse(file([
    {
      id: "eu",
      regions: [{ id: "eu-1", url: "https://eu-1.example/", publicKey: key() }, {
        id: "eu-2",
        url: "https://eu-2.example",
        publicKey: key(),
      }],
    },
    { id: "us", regions: [{ id: "us-1", url: "http://127.0.0.1:8003", publicKey: key() }] },
  ]));
  assert.deepEqual(t.regions.map((r) => `${r.zone}/${r.id}`), ["eu/eu-1", "eu/eu-2", "us/us-1"]);
  assert.equal(t.region("eu-1")!.url, "https://eu-1.example", "a trailing slash is dropped");
  assert.deepEqual(t.zonePeers("eu-1").map((r) => r.id), ["eu-2"]);
  assert.deepEqual(t.zonePeers("us-1"), []);
  assert.equal(t.majority, 2);
  assert.equal(t.byPublicKey(t.region("us-1")!.publicKey)!.id, "us-1");
});

Deno.test("Topology.parse() refuses bad files with a message naming the field", () => {
  const k = key();
  const cases: [string, RegExp][] = [
    ["not json", /is not JSON/],
    [JSON.stringify({ v: 2, zones: [] }), /v is invalid/],
    [file([]), /zones is invalid/],
    [
      file([{ id: "eu", regions: [{ id: "EU_1", url: "https://x", publicKey: k }] }]),
      /zones\.0\.regions\.0\.id is invalid/,
    ],
    [
      file([{ id: "eu", regions: [{ id: "eu-1", url: "ftp://x", publicKey: k }] }]),
      /zones\.0\.regions\.0\.url is invalid/,
    ],
    [
      file([{ id: "eu", regions: [{ id: "eu-1", url: "https://x", publicKey: "nope" }] }]),
      /zones\.0\.regions\.0\.publicKey is invalid/,
    ],
    [
      file([{ id: "eu", regions: [{ id: "eu-1", url: "https://x", publicKey: k, extra: 1 }] }]),
      /zones\.0\.regions\.0 is invalid/,
    ],
    [
      file([{
        id: "eu",
        regions: [{ id: "eu-1", url: "https://x", publicKey: k }, {
          id: "eu-1",
          url: "https://y",
          publicKey: key(),
        }],
      }]),
      /zones\.0\.regions\.1\.id is invalid: region "eu-1" is listed twice/,
    ],
    [
      file([{
        id: "eu",
        regions: [{ id: "eu-1", url: "https://x", publicKey: k }, {
          id: "eu-2",
          url: "https://y",
          publicKey: k,
        }],
      }]),
      /publicKey is invalid: two regions share one public key/,
    ],
    [
      file([{ id: "eu", regions: [{ id: "eu-1", url: "https://x", publicKey: k }] }, {
        id: "eu",
        regions: [{ id: "eu-2", url: "https://y", publicKey: key() }],
      }]),
      /zones\.1\.id is invalid: zone "eu" is listed twice/,
    ],
  ];
  for (const [text, message] of cases) {
    assert.throws(() => Topology.parse(text, "topology t.json"), (e: Error) => {
      assert.ok(e instanceof TypeError);
      assert.match(e.message, /^Cannot load topology t\.json as /);
      assert.match(e.message, message);
      return true;
    }, text);
  }
});
