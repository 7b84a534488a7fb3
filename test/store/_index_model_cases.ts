/**
 * A property test of the store index against a model written out apart from every store: a Map
 * of entries, listed by sorting with `compareIndexKeys`, filtering by prefix and cursor. Random
 * writes (with expectations that hold or not), reads and listings must answer alike.
 */
import assert from "node:assert/strict";
import fc from "fast-check";
import { compareIndexKeys, hasIndexPrefix, joinIndexKey } from "../../src/store/_index_args.ts";
import type { IndexEntry, IndexKey, IndexWrite } from "../../src/store/region_store.ts";
import type { StoreFixture } from "./conformance.ts";

type Case = (title: string, fn: (f: StoreFixture) => Promise<void>) => void;

/** Elements whose byte order differs from UTF-16 order, and prefixes of one another. */
const PARTS = ["a", "ab", "b", "B", "é", "e", "中", "😀", "\uFFFD", "~", "a b"];

const part = fc.constantFrom(...PARTS);
const key = fc.array(part, { minLength: 1, maxLength: 3 });
const value = fc.oneof(fc.string({ maxLength: 3 }), fc.constantFrom("中", "😀", "OK", ""));

const step = fc.oneof(
  fc.record({
    kind: fc.constant("write" as const),
    expect: fc.array(
      fc.record({ key, value: fc.option(value), holds: fc.boolean() }),
      { maxLength: 2 },
    ),
    set: fc.array(fc.record({ key, value }), { maxLength: 4 }),
    delete: fc.array(key, { maxLength: 2 }),
  }),
  fc.record({
    kind: fc.constant("list" as const),
    prefix: fc.array(part, { maxLength: 2 }),
    after: fc.option(key, { nil: undefined }),
    limit: fc.integer({ min: 1, max: 5 }),
    reverse: fc.boolean(),
  }),
  fc.record({ kind: fc.constant("read" as const), keys: fc.array(key, { maxLength: 4 }) }),
);

type Model = Map<string, IndexEntry>;

function modelWrite(model: Model, write: IndexWrite): boolean {
  for (const e of write.expect ?? []) {
    if ((model.get(joinIndexKey(e.key))?.value ?? null) !== e.value) return false;
  }
  for (const k of write.delete ?? []) model.delete(joinIndexKey(k));
  for (const e of write.set ?? []) model.set(joinIndexKey(e.key), e);
  return true;
}

function modelList(
  model: Model,
  prefix: IndexKey,
  after: IndexKey | undefined,
  limit: number,
  reverse: boolean,
) {
  const sign = reverse ? -1 : 1;
  const all = [...model.values()]
    .filter((e) => hasIndexPrefix(e.key, prefix))
    .filter((e) => after === undefined || sign * compareIndexKeys(e.key, after) > 0)
    .sort((a, b) => sign * compareIndexKeys(a.key, b.key));
  return { entries: all.slice(0, limit), more: all.length > limit };
}

export function indexModelCases(test: Case): void {
  test("writeIndex(), readIndex() and listIndex() answer as the model over random steps", async ({ store }) => {
    let run = 0;
    await fc.assert(
      fc.asyncProperty(fc.array(step, { minLength: 1, maxLength: 14 }), async (steps) => {
        // Each run under its own first element, so runs (and shrinks) never meet.
        const ns = `run${run++}`;
        const at = (k: IndexKey): IndexKey => [ns, ...k];
        const model: Model = new Map();
        for (const s of steps) {
          if (s.kind === "write") {
            const set = [...new Map(s.set.map((e) => [joinIndexKey(e.key), e])).values()];
            const taken = new Set(set.map((e) => joinIndexKey(e.key)));
            const del = [...new Map(s.delete.map((k) => [joinIndexKey(k), k])).entries()]
              .filter(([j]) => !taken.has(j)).map(([, k]) => k);
            const write: IndexWrite = {
              expect: s.expect.map((e) => ({
                key: at(e.key),
                value: e.holds ? model.get(joinIndexKey(at(e.key)))?.value ?? null : e.value,
              })),
              set: set.map((e) => ({ key: at(e.key), value: e.value })),
              delete: del.map(at),
            };
            const want = modelWrite(model, write);
            assert.equal(await store.writeIndex(write), want, `write ${JSON.stringify(write)}`);
          } else if (s.kind === "read") {
            const keys = s.keys.map(at);
            const want = keys.map((k) => model.get(joinIndexKey(k))?.value ?? null);
            assert.deepEqual(await store.readIndex(keys), want);
          } else {
            const prefix = at(s.prefix), after = s.after && at(s.after);
            const options = { after, limit: s.limit, reverse: s.reverse };
            assert.deepEqual(
              await store.listIndex(prefix, options),
              modelList(model, prefix, after, s.limit, s.reverse),
              `list ${JSON.stringify({ prefix, ...options })}`,
            );
          }
        }
        const everything = modelList(model, [ns], undefined, 1_000, false);
        assert.deepEqual(await store.listIndex([ns], { limit: 1_000 }), everything);
      }),
      { numRuns: 40 },
    );
  });
}
