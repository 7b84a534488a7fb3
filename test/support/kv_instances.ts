/**
 * Several instances of one region on one Deno KV file: each a `DenoKvStore` object of its own (own
 * caches, own quarantine and watch), sharing the data, as instances share the regional store.
 */
import { DenoKvStore } from "../../src/store/deno_kv_store.ts";

/** Runs `work` with `n` store objects on one fresh Deno KV file, then closes and removes them. */
export async function withKvInstances<T>(
  n: number,
  work: (stores: DenoKvStore[]) => Promise<T>,
): Promise<T> {
  const dir = await Deno.makeTempDir();
  const stores: DenoKvStore[] = [];
  try {
    for (let i = 0; i < n; i++) stores.push(await DenoKvStore.open(`${dir}/kv.sqlite3`));
    return await work(stores);
  } finally {
    for (const s of stores) s.close();
    await Deno.remove(dir, { recursive: true });
  }
}
