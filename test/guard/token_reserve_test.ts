import assert from "node:assert/strict";
import {
  reserveSize,
  TOKEN_RESERVE_BUCKETS_MAX,
  TOKEN_RESERVE_MS,
  TOKEN_RESERVE_SHARE,
  TokenReserves,
} from "../../src/guard/token_reserve.ts";

const T0 = 1_767_225_600_000;
const BUDGET = { ratePerSecond: 10, burst: 200 };

Deno.test("reserveSize() is a whole share of the burst, and 0 for small bursts", () => {
  assert.equal(reserveSize(2_000), 2_000 * TOKEN_RESERVE_SHARE);
  assert.equal(reserveSize(1 / TOKEN_RESERVE_SHARE - 1), 0, "small limits stay exact");
  assert.equal(reserveSize(1 / TOKEN_RESERVE_SHARE), 1);
});

Deno.test("TokenReserves.take() hands out what was added, then refuses", () => {
  const reserves = new TokenReserves();
  assert.equal(reserves.take("b", 1, BUDGET, T0), false, "nothing reserved yet");
  reserves.add("b", 3, BUDGET, T0);
  assert.equal(reserves.take("b", 2, BUDGET, T0), true);
  assert.equal(reserves.left("b", BUDGET, T0), 1);
  assert.equal(reserves.take("b", 2, BUDGET, T0), false);
  assert.equal(reserves.take("b", 1, BUDGET, T0), true);
  assert.equal(reserves.take("b", 1, BUDGET, T0), false);
});

Deno.test("TokenReserves drops a reserve after TOKEN_RESERVE_MS or under another budget", () => {
  const reserves = new TokenReserves();
  reserves.add("b", 10, BUDGET, T0);
  assert.equal(reserves.take("b", 1, BUDGET, T0 + TOKEN_RESERVE_MS - 1), true);
  assert.equal(reserves.take("b", 1, BUDGET, T0 + TOKEN_RESERVE_MS), false, "expired");
  reserves.add("c", 10, BUDGET, T0);
  const throttled = { ratePerSecond: 1, burst: 20 };
  assert.equal(reserves.take("c", 1, throttled, T0), false, "a budget change drops the reserve");
  assert.equal(reserves.take("c", 1, BUDGET, T0), false);
  reserves.add("d", 1_000, BUDGET, T0);
  assert.equal(reserves.left("d", BUDGET, T0), BUDGET.burst, "never more than a burst");
});

Deno.test("TokenReserves.reclaim() returns what a lapsed reserve still held, once", () => {
  const reserves = new TokenReserves();
  reserves.add("b", 10, BUDGET, T0);
  reserves.take("b", 3, BUDGET, T0);
  assert.equal(reserves.reclaim("b", BUDGET, T0), 0, "a live reserve is not given back");
  assert.equal(reserves.reclaim("b", BUDGET, T0 + TOKEN_RESERVE_MS), 7);
  assert.equal(reserves.reclaim("b", BUDGET, T0 + TOKEN_RESERVE_MS), 0);
  reserves.add("c", 4, BUDGET, T0);
  assert.equal(reserves.reclaim("c", { ratePerSecond: 1, burst: 20 }, T0), 4, "budget changed");
});

Deno.test("TokenReserves keeps at most TOKEN_RESERVE_BUCKETS_MAX buckets", () => {
  const reserves = new TokenReserves();
  for (let i = 0; i <= TOKEN_RESERVE_BUCKETS_MAX; i++) reserves.add(`b${i}`, 1, BUDGET, T0);
  assert.equal(reserves.size, TOKEN_RESERVE_BUCKETS_MAX);
  assert.equal(reserves.left("b0", BUDGET, T0), 0, "the least recently added went first");
  assert.equal(reserves.left(`b${TOKEN_RESERVE_BUCKETS_MAX}`, BUDGET, T0), 1);
});
