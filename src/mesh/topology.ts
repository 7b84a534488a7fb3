/**
 * The mesh topology: data, not code. A JSON file (path in MESH_TOPOLOGY) lists the regions, their
 * URLs and public keys, grouped into zones. Regions of a zone exchange directly; zone leaders
 * exchange across zones. Validated by a zod schema; errors name the offending field.
 */
import { z } from "zod";
import { ID_PATTERN } from "../protocol/delta.ts";
import { REGION_ID_PATTERN } from "../protocol/limits.ts";

/** Most regions one topology may list. */
export const TOPOLOGY_REGIONS_MAX = 256;
/** Most zones one topology may list. */
export const TOPOLOGY_ZONES_MAX = 64;

const regionSchema = z.strictObject({
  id: z.string().regex(REGION_ID_PATTERN, "must be lowercase letters, digits and -, 1-32 chars"),
  /** Base URL other regions call, e.g. `https://eu-1.mesh.example`. */
  url: z.url({ protocol: /^https?$/ }).transform((u) => u.replace(/\/+$/, "")),
  /** The region's ed25519 public key, unpadded base64url (43 chars). */
  publicKey: z.string().regex(ID_PATTERN, "must be a 32-byte ed25519 key as base64url"),
});

const zoneSchema = z.strictObject({
  id: z.string().regex(REGION_ID_PATTERN, "must be lowercase letters, digits and -, 1-32 chars"),
  regions: z.array(regionSchema).min(1).max(TOPOLOGY_REGIONS_MAX),
});

export const topologySchema = z.strictObject({
  v: z.literal(1),
  zones: z.array(zoneSchema).min(1).max(TOPOLOGY_ZONES_MAX),
}).superRefine((topology, ctx) => {
  const seen = new Map<string, string>();
  const keys = new Set<string>();
  const zones = new Set<string>();
  topology.zones.forEach((zone, z) => {
    if (zones.has(zone.id)) {
      ctx.addIssue({
        code: "custom",
        path: ["zones", z, "id"],
        message: `zone "${zone.id}" is listed twice`,
      });
    }
    zones.add(zone.id);
    zone.regions.forEach((region, r) => {
      const path = ["zones", z, "regions", r];
      if (seen.has(region.id)) {
        ctx.addIssue({
          code: "custom",
          path: [...path, "id"],
          message: `region "${region.id}" is listed twice`,
        });
      }
      if (keys.has(region.publicKey)) {
        ctx.addIssue({
          code: "custom",
          path: [...path, "publicKey"],
          message: "two regions share one public key",
        });
      }
      seen.set(region.id, zone.id);
      keys.add(region.publicKey);
    });
  });
  if (seen.size > TOPOLOGY_REGIONS_MAX) {
    ctx.addIssue({
      code: "custom",
      path: ["zones"],
      message: `at most ${TOPOLOGY_REGIONS_MAX} regions in all`,
    });
  }
});

export type TopologyFile = z.infer<typeof topologySchema>;

/** A region as the mesh knows it. */
export interface RegionInfo {
  readonly id: string;
  readonly url: string;
  readonly publicKey: string;
  readonly zone: string;
}

/** The parsed topology with the lookups the mesh needs. Zones and regions keep file order. */
export class Topology {
  readonly regions: readonly RegionInfo[];
  readonly zones: ReadonlyMap<string, readonly RegionInfo[]>;
  readonly #byId: ReadonlyMap<string, RegionInfo>;
  readonly #byKey: ReadonlyMap<string, RegionInfo>;

  constructor(file: TopologyFile) {
    this.regions = file.zones.flatMap((z) =>
      z.regions.map((r) => ({ id: r.id, url: r.url, publicKey: r.publicKey, zone: z.id }))
    );
    this.zones = new Map(
      file.zones.map((z) => [z.id, this.regions.filter((r) => r.zone === z.id)]),
    );
    this.#byId = new Map(this.regions.map((r) => [r.id, r]));
    this.#byKey = new Map(this.regions.map((r) => [r.publicKey, r]));
  }

  /** Parses and validates topology JSON text; throws naming the field (`where` names the file). */
  static parse(text: string, where = "topology"): Topology {
    let json: unknown;
    try {
      json = JSON.parse(text);
    } catch (error) {
      throw new TypeError(`Cannot load ${where} as it is not JSON: ${(error as Error).message}`);
    }
    const parsed = topologySchema.safeParse(json);
    if (!parsed.success) {
      const issue = parsed.error.issues[0];
      throw new TypeError(
        `Cannot load ${where} as ${
          issue.path.join(".") || "the file"
        } is invalid: ${issue.message}`,
      );
    }
    return new Topology(parsed.data);
  }

  region(id: string): RegionInfo | undefined {
    return this.#byId.get(id);
  }

  byPublicKey(key: string): RegionInfo | undefined {
    return this.#byKey.get(key);
  }

  /** The other regions of `id`'s zone. */
  zonePeers(id: string): RegionInfo[] {
    const self = this.#byId.get(id);
    return self === undefined ? [] : this.zones.get(self.zone)!.filter((r) => r.id !== id);
  }

  /** How many regions make a majority of the mesh. */
  get majority(): number {
    return Math.floor(this.regions.length / 2) + 1;
  }
}
