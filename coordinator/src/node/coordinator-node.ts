import { MongoClient } from "mongodb";
import type { Logger } from "pino";
import { adminService, type ClusterStatusSource } from "../api/admin-service.js";
import { coordinatorService } from "../api/coordinator-service.js";
import { partitionOf } from "../cluster/partition-of.js";
import type { CoordinatorConfig } from "../config/coordinator-config.js";
import { SoleOwnership } from "../driver/partition-ownership.js";
import { SagaDriver } from "../driver/saga-driver.js";
import { SagaEventBus } from "../driver/saga-event-bus.js";
import { MemorySagaStore } from "../store/memory-saga-store.js";
import { MongoSagaStore } from "../store/mongo-saga-store.js";
import type { SagaStore } from "../store/saga-store.js";
import { GrpcParticipantTransport } from "../transport/grpc-participant-transport.js";
import { setServing, shutdownServer, startGrpcServer } from "./grpc-server.js";

export interface CoordinatorNode {
  /** host:port the node listens on (with the real port when 0 was asked for). */
  address: string;
  store: SagaStore;
  /** Graceful stop: no new calls, in-flight participant calls finished, then close. */
  stop(): Promise<void>;
}

async function openStore(config: CoordinatorConfig, logger: Logger): Promise<SagaStore> {
  const uri = config["mongodb-uri"];
  if (config.mode === "dev" && !uri) return new MemorySagaStore();
  if (!uri) throw new Error("--mongodb-uri is required");
  const client = new MongoClient(uri, { serverSelectionTimeoutMS: 10_000 });
  await client.connect();
  logger.info({ database: config["mongodb-database"] }, "connected to MongoDB");
  return MongoSagaStore.open(client.db(config["mongodb-database"]), () => client.close());
}

/**
 * One coordinator node without etcd: it owns every partition. Used by dev
 * mode (memory store) and by single-node production (MongoDB). Run exactly
 * one such node per database: without etcd there is no fencing between nodes.
 */
export async function startSingleNode(config: CoordinatorConfig, logger: Logger): Promise<CoordinatorNode> {
  const store = await openStore(config, logger);
  const bus = new SagaEventBus();
  const transport = new GrpcParticipantTransport();
  const participants = config.participant;
  const driver = new SagaDriver(store, transport, new SoleOwnership(), bus, logger, {
    pollIntervalMs: config["poll-interval-ms"],
    lostCallGraceMs: config["lost-call-grace-ms"],
    resolveParticipant: (p) => participants[p] ?? p,
    partitionOf: (id) => partitionOf(id, config.partitions),
  });
  const limits = {
    maxSteps: config["max-steps"],
    maxPayloadBytes: config["max-payload-bytes"],
    maxLabels: config["max-labels"],
  };
  const nodeId = config["node-id"];
  const cluster: ClusterStatusSource = {
    async status() {
      return {
        nodeId,
        leaderNodeId: nodeId,
        members: [{ nodeId, address: config.advertise ?? config.listen, ownedPartitions: config.partitions }],
        partitionCount: config.partitions,
        assignmentEpoch: 1,
        partitions: Array.from({ length: config.partitions }, (_, partition) => ({
          partition,
          assignedNodeId: nodeId,
          ownerNodeId: nodeId,
          fence: 0,
        })),
        mode: config.mode === "dev" ? "dev" : "single",
      };
    },
  };
  const api = coordinatorService({
    store,
    writer: driver,
    bus,
    limits,
    participantNames: new Set(Object.keys(participants)),
    logger,
  });
  const { server, port, health } = await startGrpcServer(
    config.listen,
    api,
    adminService(driver, cluster, logger),
  );
  driver.start();
  const recovered = await driver.recover();
  setServing(health, true);
  const host = config.listen.slice(0, config.listen.lastIndexOf(":"));
  const address = `${host}:${port}`;
  logger.info({ address, mode: config.mode, recovered }, "coordinator ready");
  return {
    address,
    store,
    async stop() {
      setServing(health, false);
      await shutdownServer(server, config["drain-timeout-ms"]);
      await driver.stop();
      transport.close();
      await store.close();
      logger.info("coordinator stopped");
    },
  };
}
