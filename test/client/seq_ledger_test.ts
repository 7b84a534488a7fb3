import assert from "node:assert/strict";
import { AgentKey } from "../../src/crypto/agent_key.ts";
import { FileSeqLedger, seqStatePath } from "../../src/client/seq_ledger.ts";

async function withKeyFile(fn: (path: string, key: AgentKey) => Promise<void>): Promise<void> {
  const dir = await Deno.makeTempDir({ prefix: "mesh-ledger-" });
  try {
    const key = AgentKey.generate();
    await key.save(`${dir}/agent.key.json`);
    await fn(`${dir}/agent.key.json`, key);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
}

Deno.test("seqStatePath() puts the state beside the key file", () => {
  assert.equal(seqStatePath("./agent.key.json"), "./agent.key.seq.json");
  assert.equal(seqStatePath("/keys/bot"), "/keys/bot.seq.json");
});

Deno.test("FileSeqLedger.claim() records each claim in the state file before it resolves", async () => {
  await withKeyFile(async (path, key) => {
    const ledger = new FileSeqLedger(path, key.id);
    assert.equal(await ledger.claim("a"), 1);
    assert.equal(await ledger.claim("a"), 2);
    assert.equal(await ledger.claim("b"), 1);
    const state = JSON.parse(await Deno.readTextFile(seqStatePath(path)));
    assert.deepEqual(state, { v: 1, author: key.id, lastSeq: { a: 2, b: 1 } });
    assert.equal(await new FileSeqLedger(path, key.id).claim("a"), 3, "a new ledger reads it");
  });
});

Deno.test("FileSeqLedger.claim() never hands one seq to two ledgers claiming at once", async () => {
  await withKeyFile(async (path, key) => {
    const ledgers = Array.from({ length: 4 }, () => new FileSeqLedger(path, key.id));
    const seqs = await Promise.all(Array.from({ length: 40 }, (_, i) => ledgers[i % 4].claim("c")));
    assert.deepEqual(seqs.sort((a, b) => a - b), Array.from({ length: 40 }, (_, i) => i + 1));
  });
});

Deno.test("FileSeqLedger.claim() goes above the floor and never below its own claims", async () => {
  await withKeyFile(async (path, key) => {
    const ledger = new FileSeqLedger(path, key.id);
    assert.equal(await ledger.claim("c", 41), 42);
    assert.equal(await ledger.claim("c", 5), 43);
  });
});

Deno.test("FileSeqLedger.claim() refuses a state file of another key or one it cannot read", async () => {
  await withKeyFile(async (path, key) => {
    await new FileSeqLedger(path, AgentKey.generate().id).claim("c");
    await assert.rejects(new FileSeqLedger(path, key.id).claim("c"), /belongs to agent/);
    await Deno.writeTextFile(seqStatePath(path), "{not json");
    await assert.rejects(new FileSeqLedger(path, key.id).claim("c"), /is not JSON/);
  });
});

Deno.test("FileSeqLedger.claim() without the key file fails and records nothing", async () => {
  const dir = await Deno.makeTempDir({ prefix: "mesh-ledger-" });
  try {
    const ledger = new FileSeqLedger(`${dir}/missing.json`, AgentKey.generate().id);
    await assert.rejects(ledger.claim("c"), Deno.errors.NotFound);
    assert.deepEqual([...Deno.readDirSync(dir)], []);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});
