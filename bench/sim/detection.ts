/**
 * Watches every region's partition view (the real `partitionView`) every `PROBE_MS` of simulated
 * time: how long the cut-off regions take to report `minority` and the others to stop counting
 * them, how long after the heal every region reaches all again, and how often a region stops
 * counting a peer it can in fact reach (a false suspicion: lost heartbeats, a heartbeat tick held
 * up by a timeout) or reports `minority` without a partition.
 */
import type { World } from "./world.ts";

/** How often views are sampled, ms of simulated time. */
export const PROBE_MS = 50;
/** After the heal, a cut-off region reporting `minority` this long is catching up, not false. */
export const HEAL_GRACE_MS = 2_000;

export interface DetectionReport {
  /** From the cut until every cut-off region reported `minority`, ms (null: never). */
  minorityMs: number | null;
  /** From the cut until every other region stopped counting every cut-off one, ms. */
  dropMs: number | null;
  /** From the heal until every region counts every region again, ms. */
  healMs: number | null;
  /** Peers dropped from a view while the link to them was up (counted per drop). */
  falseSuspicions: number;
  /**
   * Region-time spent in `minority` while not cut off, ms (a cut-off region's first
   * `HEAL_GRACE_MS` after the heal aside).
   */
  falseMinorityMs: number;
}

export class Detection {
  readonly report: DetectionReport = {
    minorityMs: null,
    dropMs: null,
    healMs: null,
    falseSuspicions: 0,
    falseMinorityMs: 0,
  };
  #cutAtMs: number | null = null;
  #healedAtMs: number | null = null;
  #minority: ReadonlySet<number> = new Set();
  /** Per region, the peers it counted at the last probe. */
  readonly #last: Set<string>[];

  /** `countFromMs`: no false minority is counted before (regions start hearing no one). */
  constructor(readonly world: World, readonly countFromMs: number) {
    this.#last = world.regions.map(() => new Set());
  }

  cut(minority: ReadonlySet<number>): void {
    this.#cutAtMs = this.world.queue.nowMs;
    this.#minority = minority;
  }

  heal(): void {
    this.#healedAtMs = this.world.queue.nowMs;
  }

  /** Samples every region's view now. */
  probe(): void {
    const { regions, net, queue } = this.world;
    const now = queue.nowMs;
    const partitioned = this.#cutAtMs !== null && this.#healedAtMs === null;
    let allMinority = true, allDropped = true, allHealed = true;
    for (const r of regions) {
      const view = r.view();
      const cutOff = partitioned && this.#minority.has(r.index);
      const healing = this.#healedAtMs !== null && now - this.#healedAtMs < HEAL_GRACE_MS &&
        this.#minority.has(r.index);
      if (view.state === "minority" && !cutOff && !healing && now >= this.countFromMs) {
        this.report.falseMinorityMs += PROBE_MS;
      }
      if (cutOff && view.state !== "minority") allMinority = false;
      if (partitioned && !cutOff) {
        for (const m of this.#minority) {
          if (view.reachable.has(regions[m].info.id)) allDropped = false;
        }
      }
      if (view.reachable.size !== regions.length) allHealed = false;
      for (const id of this.#last[r.index]) {
        const peer = this.world.indexOf.get(id)!;
        if (!view.reachable.has(id) && !net.cut(r.index, peer)) this.report.falseSuspicions++;
      }
      this.#last[r.index] = new Set(view.reachable);
    }
    const report = this.report;
    if (partitioned && allMinority && report.minorityMs === null) {
      report.minorityMs = now - this.#cutAtMs!;
    }
    if (partitioned && allDropped && report.dropMs === null) report.dropMs = now - this.#cutAtMs!;
    if (this.#healedAtMs !== null && allHealed && report.healMs === null) {
      report.healMs = now - this.#healedAtMs;
    }
  }
}
