import { Etcd3 } from "etcd3";
import { MongoClient } from "mongodb";
import type { Logger } from "pino";
import { adminService, type ClusterStatusSource } from "../api/admin-service.js";
import { coordinatorService } from "../api/coordinator-service.js";
import { localRouter, type RequestRouter } from "../api/request-router.js";
import { ClusterKeys } from "../cluster/cluster-keys.js";
import { ClusterRouter } from "../cluster/cluster-router.js";
import { ClusterView } from "../cluster/cluster-view.js";
import { etcdClusterStatus } from "../cluster/etcd-cluster-status.js";
import { LeaderAssigner } from "../cluster/leader-assigner.js";
import { NodeMembership } from "../cluster/node-membership.js";
import { partitionOf } from "../cluster/partition-of.js";
import { PartitionOwner } from "../cluster/partition-owner.js";
import type { CoordinatorConfig } from "../config/coordinator-config.js";
import { type PartitionOwnership, SoleOwnership } from "../driver/partition-ownership.js";
import { SagaDriver } from "../driver/saga-driver.js";
import { SagaEventBus } from "../driver/saga-event-bus.js";
import { CoordinatorMetrics } from "../observability/coordinator-metrics.js";
import { startMetricsServer } from "../observability/metrics-server.js";
import { MemorySagaStore } from "../store/memory-saga-store.js";
import { DEFAULT_GROUP_COMMIT, MongoSagaStore } from "../store/mongo-saga-store.js";
import type { SagaStore } from "../store/saga-store.js";
import { GrpcParticipantTransport } from "../transport/grpc-participant-transport.js";
import { setServing, shutdownServer, startGrpcServer } from "./grpc-server.js";

export interface CoordinatorNode {
  /** host:port the node listens on (with the real port when 0 was asked for). */
  address: string;
  store: SagaStore;
  /** Graceful stop (SIGTERM): hand partitions over, finish in-flight calls, close. */
  stop(): Promise<void>;
}

async function openStore(
  config: CoordinatorConfig,
  logger: Logger,
  metrics: CoordinatorMetrics,
): Promise<SagaStore> {
  const uri = config["mongodb-uri"];
  if (config.mode === "dev" && !uri) return new MemorySagaStore(config["retain-finished"]);
  if (!uri) throw new Error("--mongodb-uri is required");
  // Command monitoring counts every round trip to the database (saga_store_round_trips_total).
  const client = new MongoClient(uri, { serverSelectionTimeoutMS: 10_000, monitorCommands: true });
  client.on("commandStarted", (event) => metrics.storeRoundTrips.inc({ operation: event.commandName }));
  await client.connect();
  logger.info({ database: config["mongodb-database"] }, "connected to MongoDB");
  return MongoSagaStore.open(client.db(config["mongodb-database"]), () => client.close(), {
    ...DEFAULT_GROUP_COMMIT,
    delayMs: config["store-flush-delay-ms"],
    maxBatch: config["store-max-batch"],
  });
}

/** The parts that differ between a lone node and a cluster member. */
interface Topology {
  ownership: PartitionOwnership;
  router: RequestRouter;
  status: ClusterStatusSource;
  /** After the server is up and the driver runs. */
  start(driver: SagaDriver): Promise<void>;
  /** Before the driver stops: hand partitions over. */
  stop(): Promise<void>;
}

function soleTopology(config: CoordinatorConfig, address: () => string): Topology {
  const nodeId = config["node-id"];
  return {
    ownership: new SoleOwnership(),
    router: localRouter,
    status: {
      async status() {
        return {
          nodeId,
          leaderNodeId: nodeId,
          members: [{ nodeId, address: address(), ownedPartitions: config.partitions }],
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
    },
    async start(driver) {
      const recovered = await driver.recover();
      if (recovered > 0) driver.logRecovered(recovered);
    },
    async stop() {},
  };
}

function etcdTopology(
  config: CoordinatorConfig,
  store: SagaStore,
  logger: Logger,
  hosts: string[],
): Topology {
  const nodeId = config["node-id"];
  const advertise = config.advertise ?? config.listen;
  const client = new Etcd3({ hosts, dialTimeout: 5000 });
  const keys = new ClusterKeys(config["etcd-prefix"]);
  const view = new ClusterView(client, keys, logger);
  let driverRef: SagaDriver | null = null;
  const driver = () => driverRef as SagaDriver;
  let owner: PartitionOwner | null = null;
  const membership = new NodeMembership(
    client,
    keys,
    { nodeId, address: advertise },
    config["lease-ttl-seconds"],
    logger,
    () => owner?.dropAll(),
  );
  owner = new PartitionOwner(
    client,
    keys,
    view,
    nodeId,
    () => membership.currentLeaseId,
    {
      claim: (p, fence) => store.claimPartition(p, fence),
      recover: async (p) => void (await driver().recover(new Set([p]))),
      drain: (p) => driver().drainPartition(p),
      forget: (p) => driver().forgetPartition(p),
    },
    logger,
  );
  const assigner = new LeaderAssigner(
    client,
    keys,
    view,
    nodeId,
    config.partitions,
    config["lease-ttl-seconds"],
    logger,
  );
  const router = new ClusterRouter(owner, view, advertise, (id) => partitionOf(id, config.partitions), 3000);
  const partitionOwner = owner;
  return {
    ownership: partitionOwner,
    router,
    status: etcdClusterStatus(nodeId, view, assigner, config.partitions),
    async start(d) {
      driverRef = d;
      await view.start();
      await membership.join();
      partitionOwner.start();
      assigner.start();
    },
    async stop() {
      // Leave first so the leader reassigns, then drain and release every partition.
      await assigner.stop();
      await membership.withdraw().catch((err) => logger.warn({ err }, "could not withdraw the member key"));
      await partitionOwner.releaseAll(config["drain-timeout-ms"]);
      await membership.leave();
      await view.stop();
      router.close();
      client.close();
    },
  };
}

/**
 * Starts a coordinator node: without --etcd-endpoints it owns every partition
 * (dev mode, or exactly one production node per database: there is no fencing
 * between nodes without etcd); with them it joins the cluster.
 */
export async function startCoordinatorNode(
  config: CoordinatorConfig,
  logger: Logger,
): Promise<CoordinatorNode> {
  let storeRef: SagaStore | null = null;
  const metrics = new CoordinatorMetrics(async () => (storeRef ? storeRef.countByStatus("FAILED") : 0));
  const store = await openStore(config, logger, metrics);
  storeRef = store;
  const bus = new SagaEventBus();
  const transport = new GrpcParticipantTransport();
  const participants = config.participant;
  let address = config.advertise ?? config.listen;
  const hosts = config["etcd-endpoints"];
  const topology = hosts ? etcdTopology(config, store, logger, hosts) : soleTopology(config, () => address);
  const metricsListen = config["metrics-listen"];
  const metricsServer = metricsListen ? await startMetricsServer(metricsListen, metrics.registry) : null;
  const driver = new SagaDriver(store, transport, topology.ownership, bus, logger, {
    metrics,
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
  const api = coordinatorService({
    store,
    writer: driver,
    router: topology.router,
    bus,
    ownership: topology.ownership,
    partitionOf: (id) => partitionOf(id, config.partitions),
    limits,
    participantNames: new Set(Object.keys(participants)),
    logger,
  });
  const admin = adminService(driver, topology.status, logger, topology.router);
  const { server, port, health } = await startGrpcServer(config.listen, api, admin);
  const host = config.listen.slice(0, config.listen.lastIndexOf(":"));
  address = config.advertise ?? `${host}:${port}`;
  driver.start();
  await topology.start(driver);
  setServing(health, true);
  logger.info({ address, mode: hosts ? "cluster" : config.mode }, "coordinator ready");
  return {
    address: `${host}:${port}`,
    store,
    async stop() {
      setServing(health, false);
      await topology.stop();
      await shutdownServer(server, config["drain-timeout-ms"]);
      await driver.stop();
      transport.close();
      await store.close();
      metricsServer?.close();
      logger.info("coordinator stopped");
    },
  };
}
