import { UpstashStore } from "../../src/store/upstash_store.ts";
import { redisAvailable } from "../support/redis_server.ts";
import { startUpstashEnv } from "../support/upstash_rest_server.ts";
import { runStoreConformance } from "./conformance.ts";
import { writeLegacyUpstash } from "./_legacy_layout.ts";

runStoreConformance("UpstashStore", async () => {
  const env = await startUpstashEnv();
  const store = new UpstashStore({
    url: env.rest.url,
    token: env.rest.token,
    requestTimeoutMs: 2_000,
  });
  const reopened: UpstashStore[] = [];
  return {
    store,
    reopen: () => {
      const again = new UpstashStore({ url: env.rest.url, token: env.rest.token });
      reopened.push(again);
      return Promise.resolve(again);
    },
    faults: {
      fail: () => env.rest.faults.set({ mode: "http500" }),
      heal: () => env.rest.faults.reset(),
      // Redis runs the first request, then its answer is lost: the client sees a failure.
      failAfterWrite: () => env.rest.faults.set({ mode: "http500", count: 1, afterApply: true }),
    },
    writeLegacy: (deltas) =>
      writeLegacyUpstash(env.rest.url, env.rest.token, env.redis.port, deltas),
    cleanup: async () => {
      for (const r of reopened) await r.close();
      await store.close();
      await env.stop();
    },
  };
}, { ignore: !redisAvailable });
