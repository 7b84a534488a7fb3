/**
 * Writes deltas into a store as the stores before issue 13 laid them out — the region log one
 * list (`["l", n]` + `["g"]` on Deno KV, `{~region}:log` + `:log:n` on Upstash), equivocations
 * numbered by their log entry — for the conformance case of a region upgraded in place. Each
 * delta is put by today's code through an instance of its own, then its one log entry moved to
 * the end of the old log: today's code numbers an equivocation one above the old log's counter,
 * which is exactly the old number (its log entry), so only the equivocation counter is dropped.
 */
import { DenoKvStore } from "../../src/store/deno_kv_store.ts";
import { GATING_LOG_SHARD, LOG_SHARDS } from "../../src/store/region_log.ts";
import type { StoredDelta } from "../../src/store/region_store.ts";
import { UpstashStore } from "../../src/store/upstash_store.ts";
import { RespConnection } from "../support/resp_client.ts";

/** Deno KV (no key prefix): one delta at a time, each log entry moved to ["l", g + 1]. */
export async function writeLegacyKv(kv: Deno.Kv, deltas: readonly StoredDelta[]): Promise<void> {
  const writer = new DenoKvStore(kv, { ownsKv: false });
  for (const delta of deltas) {
    await writer.putDeltas([delta]);
    const g = (await kv.get<number>(["g"])).value ?? 0;
    const op = kv.atomic();
    let moved = 0;
    for (let shard = GATING_LOG_SHARD; shard < LOG_SHARDS; shard++) {
      const entry = await kv.get(["ls", shard, 1]);
      if (entry.value === null) continue;
      op.set(["l", g + ++moved], entry.value).delete(entry.key).delete(["gs", shard]);
    }
    if (moved !== 1) throw new Error(`expected one new log entry, found ${moved}`);
    await op.set(["g"], g + 1).delete(["qn"]).commit();
  }
  await writer.close();
}

/** Moves the one entry of whichever shard holds one to the end of the old log. */
const MOVE_SCRIPT = `
local p = ARGV[1]
local old = p .. '{~region}:log'
local g = tonumber(redis.call('GET', old .. ':n') or '0')
local moved = 0
for s = ${GATING_LOG_SHARD}, ${LOG_SHARDS - 1} do
  local key = old .. ':' .. s
  local entry = redis.call('HGET', key, '1')
  if entry then
    moved = moved + 1
    redis.call('HSET', old, string.format('%.0f', g + moved), entry)
    redis.call('DEL', key, key .. ':n')
  end
end
redis.call('SET', old .. ':n', string.format('%.0f', g + moved))
redis.call('DEL', p .. '{~region}:equivocations:n')
return moved
`;

/** Upstash (prefix `mesh:`), through the REST server at `url` and redis on `port`. */
export async function writeLegacyUpstash(
  url: string,
  token: string,
  port: number,
  deltas: readonly StoredDelta[],
): Promise<void> {
  const writer = new UpstashStore({ url, token });
  const conn = await RespConnection.connect(port);
  try {
    for (const delta of deltas) {
      await writer.putDeltas([delta]);
      const moved = await conn.command("EVAL", MOVE_SCRIPT, 0, "mesh:");
      if (moved !== 1) throw new Error(`expected one new log entry, found ${String(moved)}`);
    }
  } finally {
    conn.close();
    await writer.close();
  }
}
