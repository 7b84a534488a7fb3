/** Query parameters of the region's routes, checked: 400 problem+json when malformed. */
import { Problem } from "./problem.ts";

/** The integer query parameter `raw` in `min..max` (`fallback` when absent); 400 otherwise. */
export function integerQuery(
  raw: string | undefined,
  name: string,
  min: number,
  max: number,
  fallback: number,
): number {
  if (raw === undefined) return fallback;
  const value = /^[0-9]{1,16}$/.test(raw) ? Number(raw) : NaN;
  if (!(value >= min && value <= max)) {
    throw new Problem(
      "invalid-request",
      `Query parameter ${name} must be an integer in ${min}..${max}`,
    );
  }
  return value;
}
