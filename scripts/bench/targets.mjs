// Issue 9's targets, checked against the cells a run measured (a target whose
// cells were not run is left out). Figures, not a test: the table prints them.

const find = (cells, q) =>
  cells.find((c) => !c.failed && c.completed > 0 && Object.entries(q).every(([k, v]) => c[k] === v));

export function checkTargets(cells) {
  const out = [];
  const add = (name, value, limit, ok, unit = "") =>
    out.push({ name, value, limit, met: ok(value, limit), unit });
  for (const nodes of [1, 3]) {
    const c = find(cells, { mode: "start", nodes, steps: 3, concurrency: 200 });
    if (c?.storeRoundTripsPerSaga != null)
      add(
        `start ${nodes}n 3 steps C=200: store round trips per saga`,
        c.storeRoundTripsPerSaga,
        1.0,
        (v, l) => v <= l,
      );
    if (c)
      add(
        `start ${nodes}n 3 steps C=200: coordinator CPU ms per saga`,
        c.coordinatorCpuMsPerSaga,
        2.0,
        (v, l) => v <= l,
      );
  }
  for (const concurrency of [50, 200]) {
    const c = find(cells, { mode: "dev", steps: 3, concurrency });
    if (c)
      add(
        `dev 3 steps C=${concurrency}: coordinator CPU ms per saga`,
        c.coordinatorCpuMsPerSaga,
        1.0,
        (v, l) => v <= l,
      );
  }
  const dev200 = find(cells, { mode: "dev", steps: 3, concurrency: 200 });
  if (dev200) add("dev 3 steps C=200: sagas/s", dev200.sagasPerSecond, 1000, (v, l) => v >= l);
  for (const three of cells.filter((c) => c.steps === 3 && !c.failed && c.completed > 0)) {
    const ten = find(cells, {
      mode: three.mode,
      nodes: three.nodes,
      steps: 10,
      concurrency: three.concurrency,
    });
    if (ten)
      add(
        `${three.mode} ${three.nodes}n C=${three.concurrency}: CPU of 10 steps ÷ CPU of 3 steps`,
        ten.coordinatorCpuMsPerSaga / three.coordinatorCpuMsPerSaga,
        2.0,
        (v, l) => v <= l,
      );
  }
  return out;
}
