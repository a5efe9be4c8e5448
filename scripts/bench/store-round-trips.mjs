// Store round trips, read from a coordinator's Prometheus counter
// saga_store_round_trips_total{operation} (served with --metrics-listen).

const METRIC = "saga_store_round_trips_total";

/**
 * The counter's samples by operation, or null when the node does not export
 * it (an older coordinator): the benchmark then shows "n/a", never a guess.
 */
export async function readStoreRoundTrips(metricsAddress) {
  const res = await fetch(`http://${metricsAddress}/metrics`);
  if (!res.ok) throw new Error(`GET http://${metricsAddress}/metrics: ${res.status}`);
  const text = await res.text();
  const byOperation = {};
  let found = false;
  for (const line of text.split("\n")) {
    // Declared without samples (e.g. the memory store of `dev`): zero round trips.
    if (line.startsWith(`# TYPE ${METRIC} `)) found = true;
    if (!line.startsWith(METRIC)) continue;
    const m = line.match(/^saga_store_round_trips_total(?:\{([^}]*)\})?\s+(\S+)/);
    if (!m) continue;
    found = true;
    const operation = m[1]?.match(/operation="([^"]*)"/)?.[1] ?? "";
    byOperation[operation] = (byOperation[operation] ?? 0) + Number(m[2]);
  }
  return found ? byOperation : null;
}

/** after − before per operation, summed over nodes; null if any node lacks the counter. */
export function roundTripDelta(before, after) {
  if (before.some((b) => b === null) || after.some((a) => a === null)) return null;
  const delta = {};
  after.forEach((node, i) => {
    for (const [op, value] of Object.entries(node)) {
      delta[op] = (delta[op] ?? 0) + value - (before[i][op] ?? 0);
    }
  });
  return Object.fromEntries(Object.entries(delta).filter(([, n]) => n !== 0));
}
