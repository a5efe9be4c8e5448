// The one-screen table of a benchmark result.
import { checkTargets } from "./targets.mjs";

const fixed = (x, digits) => (x === null || x === undefined || Number.isNaN(x) ? "n/a" : x.toFixed(digits));
const thousands = (x) => (x === null || x === undefined ? "n/a" : Math.round(x).toLocaleString("en-US"));

function table(header, rows) {
  const widths = header.map((h, i) => Math.max(h.length, ...rows.map((r) => String(r[i]).length)));
  const line = (cells) =>
    cells.map((c, i) => (i === 0 ? String(c).padEnd(widths[i]) : String(c).padStart(widths[i]))).join("  ");
  return [line(header), ...rows.map(line)].join("\n");
}

export function formatReport(result) {
  const { machine, services, floors, cells } = result;
  const out = [];
  out.push(
    `machine: ${machine.cpus} × ${machine.cpuModel}, ${machine.memoryGiB} GiB, Node ${machine.node}, ${machine.os}; commit ${machine.commit}`,
  );
  const load = (l) => l?.map((x) => x.toFixed(1)).join(" ") ?? "n/a";
  out.push(
    `load average (1, 5, 15 min): ${load(machine.loadAverageAtStart)} at start, ${load(result.loadAverageAtEnd)} at end`,
  );
  if (services.store) out.push(`store: ${services.store}`);
  if (services.etcdServer) out.push(`etcd: ${services.etcdServer}`);
  const cs = Object.keys(floors.grpc ?? {});
  if (cs.length > 0) {
    out.push("");
    out.push(
      table(
        ["floor, from the bench process", ...cs.map((c) => `C=${c}`)],
        [
          [
            "no-op gRPC unary calls/s (1 channel)",
            ...cs.map((c) => thousands(floors.grpc[c]?.callsPerSecond)),
          ],
          ...(floors.store
            ? [
                [
                  "store read + conditional update/s (pool)",
                  ...cs.map((c) => thousands(floors.store[c]?.updatesPerSecond)),
                ],
              ]
            : []),
        ],
      ),
    );
  }
  out.push("");
  const rows = cells.map((c) => {
    if (c.failed)
      return [
        cellLabel(c),
        "failed",
        ...Array(11).fill(""),
        c.failed
          .split("\n")[0]
          .replace(/^Error: /, "")
          .slice(0, 60),
      ];
    return [
      cellLabel(c),
      c.completed,
      fixed(c.sagasPerSecond, 1),
      fixed(c.latencyMs.p50, 0),
      fixed(c.latencyMs.p95, 0),
      fixed(c.latencyMs.p99, 0),
      fixed(c.storeRoundTripsPerSaga, 2),
      fixed(c.coordinatorCpuMsPerSaga, 2),
      Math.max(...c.coordinatorPeakRssMiB).toFixed(0),
      fixed(c.ratioToGrpcFloor, 3),
      fixed(c.ratioToStoreFloor, 2),
      c.errorCount + (c.aborted ? " (aborted)" : ""),
    ];
  });
  out.push(
    table(
      [
        "mode  nodes steps    C",
        "sagas",
        "sagas/s",
        "p50 ms",
        "p95 ms",
        "p99 ms",
        "store RT/saga",
        "CPU ms/saga",
        "RSS MiB",
        "÷gRPC",
        "÷store",
        "errors",
      ],
      rows,
    ),
  );
  const targets = checkTargets(cells);
  if (targets.length > 0) {
    out.push("");
    out.push(
      table(
        ["target (issue 9)", "measured", "limit", ""],
        targets.map((t) => [t.name, fixed(t.value, 2), t.limit, t.met ? "met" : "NOT met"]),
      ),
    );
  }
  out.push("");
  out.push(
    "latency: submit→terminal (SagaClient start + waitFor). store RT: saga_store_round_trips_total / sagas, all nodes.\n" +
      "CPU: utime+stime of the coordinator process(es) in the measured window / sagas. RSS: peak (VmHWM) of the largest node.\n" +
      "÷gRPC, ÷store: sagas/s divided by that floor at the same C.",
  );
  return out.join("\n");
}

const cellLabel = (c) =>
  `${c.mode.padEnd(5)} ${String(c.nodes).padStart(5)} ${String(c.steps).padStart(5)} ${String(c.concurrency).padStart(4)}`;
