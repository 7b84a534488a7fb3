/** Reads docs/telemetry/registry.yaml into the sets of declared names. */
import { parse } from "yaml";

export interface Registry {
  readonly spans: Set<string>;
  readonly metrics: Set<string>;
  readonly attributes: Set<string>;
}

interface Group {
  id: string;
  type: string;
  metric_name?: string;
  attributes?: { id?: string; ref?: string }[];
}

export async function loadRegistry(): Promise<Registry> {
  const url = new URL("../../docs/telemetry/registry.yaml", import.meta.url);
  const { groups } = parse(await Deno.readTextFile(url)) as { groups: Group[] };
  const registry: Registry = { spans: new Set(), metrics: new Set(), attributes: new Set() };
  for (const group of groups) {
    if (group.type === "span") registry.spans.add(group.id.replace(/^span\./, ""));
    if (group.type === "metric" && group.metric_name) registry.metrics.add(group.metric_name);
    for (const attribute of group.attributes ?? []) {
      if (attribute.id) registry.attributes.add(attribute.id);
    }
  }
  return registry;
}
