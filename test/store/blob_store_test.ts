/** The blob cases of `_blob_cases.ts` on the memory store, Deno KV and Upstash (real redis). */
import { DenoKvStore } from "../../src/store/deno_kv_store.ts";
import { MemoryStore } from "../../src/store/memory_store.ts";
import { UpstashStore } from "../../src/store/upstash_store.ts";
import { redisAvailable } from "../support/redis_server.ts";
import { startUpstashEnv } from "../support/upstash_rest_server.ts";
import { runBlobCases } from "./_blob_cases.ts";

runBlobCases("MemoryStore", () => {
  const store = new MemoryStore();
  return Promise.resolve({ store, cleanup: () => store.close() });
});

runBlobCases("DenoKvStore", async () => {
  const store = await DenoKvStore.open(":memory:");
  return { store, cleanup: () => store.close() };
});

runBlobCases("UpstashStore", async () => {
  const env = await startUpstashEnv();
  const store = new UpstashStore({ url: env.rest.url, token: env.rest.token });
  return {
    store,
    cleanup: async () => {
      await store.close();
      await env.stop();
    },
  };
}, { ignore: !redisAvailable });
