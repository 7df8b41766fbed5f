/**
 * Counts a role's orders by status for the `emission_mesh_orders` gauge:
 * one count per value of the status enum (UNSPECIFIED left out), named as
 * the enum names it. Each is a count on the indexed status field.
 */
export function statusCounts(
  statusEnum: Record<string, string | number>,
  count: (status: number) => Promise<number>,
): () => Promise<Record<string, number>> {
  const statuses = Object.entries(statusEnum).filter((e): e is [string, number] => typeof e[1] === "number" && e[1] !== 0);
  return async () => {
    const counts = await Promise.all(statuses.map(([, value]) => count(value)));
    return Object.fromEntries(statuses.map(([name], i) => [name, counts[i] ?? 0]));
  };
}
