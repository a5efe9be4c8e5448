#!/usr/bin/env node
// Prints a coordinator's view of its cluster (saga.v1.AdminService/GetClusterStatus),
// for machines without grpcurl. Run it from the repository after `npm run build`:
//
//   node deploy/cluster-status.mjs [host:port] [--json] [--wait-members N] [--timeout-ms MS]
//
// --wait-members N polls until the cluster has N members, a leader, and every
// partition is owned by its assigned node (default timeout 60 s).
// Exit status: 0 on an answer (that met --wait-members), 1 otherwise.
import { setTimeout as sleep } from "node:timers/promises";
import { parseArgs } from "node:util";
import { credentials } from "@grpc/grpc-js";
import { AdminServiceClient } from "@saga-coordinator/proto";

const { values, positionals } = parseArgs({
  allowPositionals: true,
  options: {
    json: { type: "boolean", default: false },
    "wait-members": { type: "string" },
    "timeout-ms": { type: "string", default: "60000" },
  },
});
const address = positionals[0] ?? "127.0.0.1:50051";
const waitMembers = values["wait-members"] === undefined ? undefined : Number(values["wait-members"]);
const deadline = Date.now() + Number(values["timeout-ms"]);

const client = new AdminServiceClient(address, credentials.createInsecure());
const getStatus = () =>
  new Promise((resolve, reject) =>
    client.getClusterStatus({}, { deadline: new Date(Date.now() + 5000) }, (err, status) =>
      err ? reject(err) : resolve(status),
    ),
  );

/** Why the cluster has not settled yet, or "" once it has. */
function unsettled(status) {
  if (status.members.length !== waitMembers) return `${status.members.length}/${waitMembers} members`;
  if (!status.leaderNodeId) return "no leader yet";
  const moving = status.partitions.filter((p) => !p.ownerNodeId || p.ownerNodeId !== p.assignedNodeId);
  return moving.length > 0 ? `${moving.length} partitions changing hands` : "";
}

function print(status) {
  if (values.json) {
    console.log(JSON.stringify(status, null, 2));
    return;
  }
  console.log(`answered by  ${status.nodeId} (mode ${status.mode})`);
  console.log(`leader       ${status.leaderNodeId || "(election in progress)"}`);
  console.log(`partitions   ${status.partitionCount}, assignment epoch ${status.assignmentEpoch}`);
  console.log(`members      ${status.members.length}`);
  for (const m of status.members) {
    console.log(`  ${m.nodeId.padEnd(20)} ${m.address.padEnd(24)} owns ${m.ownedPartitions} partitions`);
  }
  const unowned = status.partitions.filter((p) => !p.ownerNodeId).length;
  if (unowned > 0)
    console.log(`  (${unowned} partitions have no owner right now: a hand-over is in progress)`);
}

let exitCode = 0;
try {
  for (;;) {
    let status;
    let problem;
    try {
      status = await getStatus();
      problem = waitMembers === undefined ? "" : unsettled(status);
    } catch (err) {
      if (waitMembers === undefined) throw err;
      problem = err.message;
    }
    if (problem === "") {
      print(status);
      break;
    }
    if (Date.now() >= deadline) {
      if (status) print(status);
      console.error(`cluster at ${address} not settled: ${problem}`);
      exitCode = 1;
      break;
    }
    await sleep(250);
  }
} catch (err) {
  console.error(`GetClusterStatus on ${address} failed: ${err.message}`);
  exitCode = 1;
} finally {
  client.close();
}
process.exit(exitCode);
