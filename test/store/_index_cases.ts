/**
 * Conformance cases for the store index (`writeIndex`, `readIndex`, `listIndex`): every store
 * applies a write atomically and only when its expectations hold, lists in the order of
 * `compareIndexKeys` (UTF-8 bytes, element by element, a key before its extensions), pages with
 * `after` both ways, refuses arguments past the limits as programmer errors, and fails as
 * StoreUnavailableError without writing anything.
 */
import assert from "node:assert/strict";
import { compareIndexKeys } from "../../src/store/_index_args.ts";
import {
  INDEX_KEY_PART_CHARS_MAX,
  INDEX_KEY_PARTS_MAX,
  INDEX_READ_KEYS_MAX,
  INDEX_VALUE_CHARS_MAX,
  INDEX_WRITE_EXPECT_MAX,
  INDEX_WRITE_KEYS_MAX,
  INDEX_WRITE_VALUE_CHARS_MAX,
} from "../../src/store/index_limits.ts";
import {
  type IndexEntry,
  type IndexKey,
  type RegionStore,
  StoreUnavailableError,
} from "../../src/store/region_store.ts";
import { indexModelCases } from "./_index_model_cases.ts";
import type { StoreFixture } from "./conformance.ts";

type Case = (title: string, fn: (f: StoreFixture) => Promise<void>) => void;

/** Every entry under `prefix`, page by page of `limit`, in either direction. */
export async function listAll(
  store: RegionStore,
  prefix: IndexKey,
  limit: number,
  reverse = false,
): Promise<IndexEntry[]> {
  const all: IndexEntry[] = [];
  let after: IndexKey | undefined;
  for (let pages = 0;; pages++) {
    assert.ok(pages < 1_000, "paging must terminate");
    const page = await store.listIndex(prefix, { after, limit, reverse });
    assert.ok(page.entries.length <= limit);
    all.push(...page.entries);
    if (!page.more) return all;
    assert.ok(page.entries.length > 0, "a page with more holds an entry");
    after = page.entries.at(-1)!.key;
  }
}

const keysOf = (entries: readonly IndexEntry[]) => entries.map((e) => e.key);

export function indexCases(test: Case): void {
  indexModelCases(test);

  test("writeIndex() sets and deletes entries that readIndex() reads back, null where absent", async ({ store }) => {
    assert.equal(await store.writeIndex({ set: [{ key: ["a", "1"], value: "one" }] }), true);
    assert.equal(
      await store.writeIndex({
        set: [{ key: ["a", "2"], value: "two" }, { key: ["a", "1"], value: "uno" }],
      }),
      true,
    );
    assert.deepEqual(await store.readIndex([["a", "1"], ["a", "3"], ["a", "2"], ["a"]]), [
      "uno",
      null,
      "two",
      null,
    ]);
    assert.equal(await store.writeIndex({ delete: [["a", "1"], ["never", "there"]] }), true);
    assert.deepEqual(await store.readIndex([["a", "1"], ["a", "2"]]), [null, "two"]);
    assert.deepEqual(await store.readIndex([]), []);
    assert.equal(await store.writeIndex({}), true);
  });

  test("writeIndex() keeps values exactly: empty, numeric, JSON, OK, NUL, non-ASCII, the longest", async ({ store }) => {
    const values = [
      "",
      "0",
      "123",
      "OK",
      "null",
      '{"a":[1,"é"]}',
      "a\u0000b",
      " spaced \n\t line ",
      "ünïcødé 中文 😀 \u2028",
      "中".repeat(INDEX_VALUE_CHARS_MAX),
    ];
    const set = values.map((value, i) => ({ key: ["v", String(i)], value }));
    assert.equal(await store.writeIndex({ set }), true);
    assert.deepEqual(await store.readIndex(set.map((e) => e.key)), values);
    assert.deepEqual(await listAll(store, ["v"], 3), set);
  });

  test("writeIndex() applies only when every expectation holds, and otherwise writes nothing", async ({ store }) => {
    const k = ["k"], other = ["other"];
    // Absent expected absent: applies.
    assert.equal(
      await store.writeIndex({ expect: [{ key: k, value: null }], set: [{ key: k, value: "1" }] }),
      true,
    );
    // Absent expected, but present: refused, and its other parts are not written either.
    assert.equal(
      await store.writeIndex({
        expect: [{ key: k, value: null }],
        set: [{ key: other, value: "x" }],
        delete: [k],
      }),
      false,
    );
    assert.deepEqual(await store.readIndex([k, other]), ["1", null]);
    // A mismatching value, and one of two expectations failing: refused.
    assert.equal(
      await store.writeIndex({
        expect: [{ key: k, value: "2" }],
        set: [{ key: other, value: "x" }],
      }),
      false,
    );
    assert.equal(
      await store.writeIndex({
        expect: [{ key: k, value: "1" }, { key: other, value: "y" }],
        set: [{ key: other, value: "x" }],
      }),
      false,
    );
    // A value expected where none is: refused; "" is a value, not absence.
    assert.equal(
      await store.writeIndex({
        expect: [{ key: other, value: "" }],
        set: [{ key: other, value: "x" }],
      }),
      false,
    );
    assert.deepEqual(await store.readIndex([k, other]), ["1", null]);
    // Present as expected (twice over), another absent as expected: applies.
    assert.equal(
      await store.writeIndex({
        expect: [{ key: k, value: "1" }, { key: k, value: "1" }, { key: other, value: null }],
        set: [{ key: other, value: "" }],
        delete: [k],
      }),
      true,
    );
    assert.deepEqual(await store.readIndex([k, other]), [null, ""]);
    assert.equal(await store.writeIndex({ expect: [{ key: other, value: "" }] }), true);
    assert.equal(await store.writeIndex({ expect: [{ key: other, value: null }] }), false);
  });

  test("writeIndex() from many writers expecting one value lets exactly one win per round", async (fixture) => {
    const writers: RegionStore[] = [fixture.store];
    for (let i = 0; i < 3 && fixture.reopen !== undefined; i++) {
      writers.push(await fixture.reopen());
    }
    const key = ["cas", "counter"];
    let current: string | null = null;
    for (let round = 0; round < 5; round++) {
      const results = await Promise.all(
        Array.from({ length: 8 }, (_, i) =>
          writers[i % writers.length].writeIndex({
            expect: [{ key, value: current }],
            set: [{ key, value: `${round}:${i}` }, {
              key: ["cas", "by", String(i)],
              value: `${round}`,
            }],
          })),
      );
      const winners = results.flatMap((won, i) => won ? [i] : []);
      assert.equal(winners.length, 1, `round ${round}: winners ${winners.join(", ")}`);
      current = `${round}:${winners[0]}`;
      assert.deepEqual(await fixture.store.readIndex([key]), [current]);
    }
    // A loser wrote none of its write.
    const by = await listAll(fixture.store, ["cas", "by"], 100);
    assert.ok(by.length <= 5, `only winners wrote their second key: ${JSON.stringify(by)}`);
  });

  test("listIndex() lists a prefix in key order and pages with 'after' forward and in reverse", async ({ store }) => {
    const keys: IndexKey[] = [];
    for (let i = 0; i < 23; i++) keys.push(["list", String(i).padStart(2, "0")]);
    keys.push(["list", "05", "deep"], ["lisu"], ["lisa"], ["list"]);
    // Several writes, out of order.
    for (const part of [keys.slice(10), keys.slice(0, 10)]) {
      assert.ok(
        await store.writeIndex({ set: part.map((key) => ({ key, value: key.join("/") })) }),
      );
    }
    const under = keys.filter((k) => k[0] === "list").sort(compareIndexKeys);
    assert.deepEqual(under[0], ["list"], "a key comes before its extensions");
    assert.deepEqual(under.slice(6, 8), [["list", "05"], ["list", "05", "deep"]]);
    for (const limit of [1, 4, 7, 25, 1_000]) {
      assert.deepEqual(keysOf(await listAll(store, ["list"], limit)), under, `limit ${limit}`);
      assert.deepEqual(
        keysOf(await listAll(store, ["list"], limit, true)),
        [...under].reverse(),
        `reverse, limit ${limit}`,
      );
    }
    const first = await store.listIndex(["list"], { limit: 3 });
    assert.deepEqual(first, {
      entries: under.slice(0, 3).map((key) => ({ key, value: key.join("/") })),
      more: true,
    });
    const exact = await store.listIndex(["list"], { after: under.at(-4), limit: 3 });
    assert.deepEqual(keysOf(exact.entries), under.slice(-3));
    assert.equal(exact.more, false);
    // 'after' is exclusive, and a key's extensions follow it.
    const past = await store.listIndex(["list"], { after: ["list", "05"], limit: 2 });
    assert.deepEqual(keysOf(past.entries), [["list", "05", "deep"], ["list", "06"]]);
    const back = await store.listIndex(["list"], {
      after: ["list", "05", "deep"],
      limit: 2,
      reverse: true,
    });
    assert.deepEqual(keysOf(back.entries), [["list", "05"], ["list", "04"]]);
    // A cursor that was deleted still places the listing.
    const gone = await store.listIndex(["list"], { after: ["list", "05", "a"], limit: 1 });
    assert.deepEqual(keysOf(gone.entries), [["list", "05", "deep"]]);
    assert.deepEqual(await store.listIndex(["nothing"], { limit: 5 }), {
      entries: [],
      more: false,
    });
  });

  test("listIndex() keeps prefix boundaries: [a] holds [a] and [a, b] but not [ab] or [a\\u0001]", async ({ store }) => {
    const keys: IndexKey[] = [
      ["a"],
      ["a", "b"],
      ["a", "b", "c"],
      ["ab"],
      ["a\u0001"],
      ["`"],
      ["b"],
      ["a", "ab"],
    ];
    assert.ok(await store.writeIndex({ set: keys.map((key) => ({ key, value: "v" })) }));
    const list = async (prefix: IndexKey, reverse = false) =>
      keysOf(await listAll(store, prefix, 2, reverse));
    assert.deepEqual(await list(["a"]), [["a"], ["a", "ab"], ["a", "b"], ["a", "b", "c"]]);
    assert.deepEqual(await list(["a"], true), [["a", "b", "c"], ["a", "b"], ["a", "ab"], ["a"]]);
    assert.deepEqual(await list(["a", "b"]), [["a", "b"], ["a", "b", "c"]]);
    assert.deepEqual(await list(["ab"]), [["ab"]]);
    assert.deepEqual(await list(["a", "a"]), []);
    assert.deepEqual(await list([]), [...keys].sort(compareIndexKeys));
    assert.deepEqual(await list([]), [
      ["`"],
      ["a"],
      ["a", "ab"],
      ["a", "b"],
      ["a", "b", "c"],
      ["a\u0001"],
      ["ab"],
      ["b"],
    ]);
    // A cursor outside the prefix: before it lists everything, past it nothing (and the reverse).
    const page = (after: IndexKey, reverse: boolean) =>
      store.listIndex(["a", "b"], { after, limit: 10, reverse }).then((p) => keysOf(p.entries));
    assert.deepEqual(await page(["a"], false), [["a", "b"], ["a", "b", "c"]]);
    assert.deepEqual(await page(["a", "ab", "z"], false), [["a", "b"], ["a", "b", "c"]]);
    assert.deepEqual(await page(["ab"], false), []);
    assert.deepEqual(await page(["a"], true), []);
    assert.deepEqual(await page(["a", "c"], true), [["a", "b", "c"], ["a", "b"]]);
    assert.deepEqual(await page(["a", "b"], true), []);
    assert.deepEqual(await page(["a", "b"], false), [["a", "b", "c"]]);
  });

  test("listIndex() orders non-ASCII elements by UTF-8 bytes, as compareIndexKeys() does", async ({ store }) => {
    // By UTF-16 code units "\uFFFD" would sort after the emoji's surrogates; by UTF-8 it is before.
    const parts = [
      "z",
      "é",
      "e\u0301",
      "中",
      "😀",
      "\uFFFD",
      "A",
      "a",
      "~",
      "e",
      "éa",
      "ｚ",
      "\u0080",
    ];
    const keys = parts.flatMap((p): IndexKey[] => [["u", p], ["u", p, "中"], ["u", p, "a"]]);
    assert.ok(await store.writeIndex({ set: keys.map((key, i) => ({ key, value: String(i) })) }));
    const want = [...keys].sort(compareIndexKeys);
    assert.deepEqual(
      want.filter((k) => k.length === 2).map((k) => k[1]),
      ["A", "a", "e", "e\u0301", "z", "~", "\u0080", "é", "éa", "中", "ｚ", "\uFFFD", "😀"],
    );
    assert.deepEqual(keysOf(await listAll(store, ["u"], 7)), want);
    assert.deepEqual(keysOf(await listAll(store, ["u"], 5, true)), [...want].reverse());
    assert.deepEqual(keysOf(await listAll(store, ["u", "é"], 1)), [["u", "é"], ["u", "é", "a"], [
      "u",
      "é",
      "中",
    ]]);
  });

  test("writeIndex() takes the largest write the limits allow", async ({ store }) => {
    // Keys of nearly INDEX_KEY_BYTES_MAX, values of two-byte characters: the heaviest write.
    const key = (
      i: number,
    ): IndexKey => [`big${i}`.padEnd(INDEX_KEY_PART_CHARS_MAX, "x"), "中".repeat(85)];
    const sets = INDEX_WRITE_KEYS_MAX - INDEX_WRITE_EXPECT_MAX;
    const chars = Math.min(INDEX_VALUE_CHARS_MAX, Math.floor(INDEX_WRITE_VALUE_CHARS_MAX / sets));
    const write = {
      expect: Array.from(
        { length: INDEX_WRITE_EXPECT_MAX },
        (_, i) => ({ key: key(sets + i), value: null }),
      ),
      set: Array.from({ length: sets }, (_, i) => ({ key: key(i), value: "中".repeat(chars) })),
    };
    assert.equal(await store.writeIndex(write), true);
    const read = await store.readIndex(write.set.map((e) => e.key));
    assert.ok(read.every((v) => v === "中".repeat(chars)));
    assert.equal(await store.writeIndex({ delete: write.set.map((e) => e.key) }), true);
  });

  test("writeIndex(), readIndex() and listIndex() refuse arguments past the limits as programmer errors", async ({ store }) => {
    const keys = (n: number) => Array.from({ length: n }, (_, i): IndexKey => ["lim", String(i)]);
    const set = (n: number, value = "v") => keys(n).map((key) => ({ key, value }));
    const refuses = (write: Parameters<RegionStore["writeIndex"]>[0], error: ErrorConstructor) =>
      assert.rejects(
        () => store.writeIndex(write),
        (e) => e instanceof error && !(e instanceof StoreUnavailableError),
      );
    await refuses({ set: set(INDEX_WRITE_KEYS_MAX + 1) }, RangeError);
    const half = INDEX_WRITE_KEYS_MAX / 2;
    await refuses(
      { set: set(half), delete: keys(INDEX_WRITE_KEYS_MAX + 1).slice(half) },
      RangeError,
    );
    await refuses(
      { expect: keys(INDEX_WRITE_EXPECT_MAX + 1).map((key) => ({ key, value: null })) },
      RangeError,
    );
    const long = "x".repeat(INDEX_VALUE_CHARS_MAX);
    await refuses({
      set: set(Math.ceil(INDEX_WRITE_VALUE_CHARS_MAX / INDEX_VALUE_CHARS_MAX) + 1, long),
    }, RangeError);
    await refuses({ set: [{ key: ["lim"], value: long + "x" }] }, TypeError);
    await refuses({ set: [{ key: ["lim"], value: "\uD800" }] }, TypeError);
    await refuses({ expect: [{ key: ["lim"], value: long + "x" }] }, TypeError);
    const badKeys: IndexKey[] = [
      [],
      [""],
      ["a\u0000b"],
      ["\uDC00"],
      Array.from({ length: INDEX_KEY_PARTS_MAX + 1 }, () => "p"),
      ["x".repeat(INDEX_KEY_PART_CHARS_MAX + 1)],
      ["é".repeat(200), "é".repeat(200)],
    ];
    for (const key of badKeys) {
      await refuses({ set: [{ key, value: "v" }] }, TypeError);
      await refuses({ delete: [key] }, TypeError);
      await refuses({ expect: [{ key, value: null }] }, TypeError);
      await assert.rejects(() => store.readIndex([key]), TypeError);
      await assert.rejects(() => store.listIndex(["lim"], { after: key, limit: 1 }), TypeError);
      if (key.length > 0) await assert.rejects(() => store.listIndex(key, { limit: 1 }), TypeError);
    }
    await refuses({ set: [{ key: ["lim"], value: "a" }], delete: [["lim"]] }, TypeError);
    await refuses({ set: [{ key: ["lim"], value: "a" }, { key: ["lim"], value: "b" }] }, TypeError);
    await assert.rejects(() => store.readIndex(keys(INDEX_READ_KEYS_MAX + 1)), RangeError);
    for (const limit of [0, -1, 1.5, NaN, Infinity]) {
      await assert.rejects(() => store.listIndex([], { limit }), RangeError);
    }
    assert.deepEqual(await store.listIndex([], { limit: 10 }), { entries: [], more: false });
    // At the limits exactly, all is well.
    assert.ok(await store.writeIndex({ set: set(INDEX_WRITE_KEYS_MAX) }));
    assert.equal(
      (await store.readIndex(keys(INDEX_READ_KEYS_MAX))).filter((v) => v === "v").length,
      INDEX_WRITE_KEYS_MAX,
    );
  });

  test("an unavailable store throws StoreUnavailableError from the index methods and writes nothing", async (fixture) => {
    if (fixture.faults === undefined) return;
    const { store, faults } = fixture;
    assert.ok(await store.writeIndex({ set: [{ key: ["f", "1"], value: "before" }] }));
    await faults.fail();
    await assert.rejects(
      () =>
        store.writeIndex({
          set: [{ key: ["f", "1"], value: "after" }, { key: ["f", "2"], value: "new" }],
        }),
      StoreUnavailableError,
    );
    await assert.rejects(
      () =>
        store.writeIndex({ expect: [{ key: ["f", "1"], value: "before" }], delete: [["f", "1"]] }),
      StoreUnavailableError,
    );
    await assert.rejects(() => store.readIndex([["f", "1"]]), StoreUnavailableError);
    await assert.rejects(() => store.listIndex(["f"], { limit: 10 }), StoreUnavailableError);
    await assert.rejects(
      () => store.listIndex([], { after: ["f"], limit: 10, reverse: true }),
      StoreUnavailableError,
    );
    // Programmer errors stay programmer errors while the store is down.
    await assert.rejects(() => store.readIndex([[]]), TypeError);
    await faults.heal();
    assert.deepEqual(await listAll(store, ["f"], 10), [{ key: ["f", "1"], value: "before" }]);
  });
}
