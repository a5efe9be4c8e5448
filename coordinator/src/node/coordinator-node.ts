import { readFileSync } from "node:fs";
import type { ChannelCredentials, ServerInterceptor } from "@grpc/grpc-js";
import { Etcd3, type IOptions } from "etcd3";
import { MongoClient } from "mongodb";
import type { Logger } from "pino";
import { adminService, type ClusterStatusSource } from "../api/admin-service.js";
import { coordinatorService } from "../api/coordinator-service.js";
import { driverBackedReads } from "../api/driver-backed-reads.js";
import { localRouter, type RequestRouter } from "../api/request-router.js";
import { StreamLimits } from "../api/stream-limits.js";
import { ClusterKeys } from "../cluster/cluster-keys.js";
import { ClusterRouter } from "../cluster/cluster-router.js";
import { ClusterView } from "../cluster/cluster-view.js";
import { etcdClusterStatus } from "../cluster/etcd-cluster-status.js";
import { LeaderAssigner } from "../cluster/leader-assigner.js";
import { NodeMembership } from "../cluster/node-membership.js";
import { partitionOf } from "../cluster/partition-of.js";
import { PartitionOwner } from "../cluster/partition-owner.js";
import { clusterRetryDelayMs } from "../cluster/retry-delay.js";
import { StoreWatchdog } from "../cluster/store-watchdog.js";
import type { CoordinatorConfig } from "../config/coordinator-config.js";
import { ParticipantRegistry } from "../config/participant-registry.js";
import { type PartitionOwnership, SoleOwnership } from "../driver/partition-ownership.js";
import { SagaDriver } from "../driver/saga-driver.js";
import { SagaEventBus } from "../driver/saga-event-bus.js";
import { CoordinatorMetrics } from "../observability/coordinator-metrics.js";
import { startMetricsServer } from "../observability/metrics-server.js";
import { AccessPolicy } from "../security/access-policy.js";
import { authInterceptor, CALLER_HEADER } from "../security/auth-interceptor.js";
import { jwtVerifier } from "../security/jwt-verifier.js";
import { MemorySagaStore } from "../store/memory-saga-store.js";
import { DEFAULT_GROUP_COMMIT, MongoSagaStore } from "../store/mongo-saga-store.js";
import type { SagaStore } from "../store/saga-store.js";
import { GrpcParticipantTransport } from "../transport/grpc-participant-transport.js";
import { setServing, shutdownServer, startGrpcServer } from "./grpc-server.js";
import { mongoClientOptions } from "./mongo-client-options.js";
import { MongoMonitorWatchdog } from "./mongo-monitor-watchdog.js";
import { nodeCredentials, registeredParticipantChannels } from "./node-credentials.js";

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
  const client = new MongoClient(uri, { ...mongoClientOptions(uri), monitorCommands: true });
  client.on("commandStarted", (event) => metrics.storeRoundTrips.inc({ operation: event.commandName }));
  await client.connect().catch((err: unknown) => {
    throw new Error(
      `cannot connect to MongoDB at ${mongoHosts(uri)} (--mongodb-uri): ${(err as Error).message}` +
        (/tls=true|ssl=true/i.test(uri) ? "; check the URI's tlsCAFile and tlsCertificateKeyFile" : ""),
    );
  });
  logger.info({ database: config["mongodb-database"] }, "connected to MongoDB");
  // Each heartbeat is bounded by connectTimeoutMS; three of those without an end is a stuck monitor.
  const monitorWatchdog = new MongoMonitorWatchdog(
    client,
    { stuckAfterMs: Math.max(15_000, 3 * (client.options.connectTimeoutMS || 10_000)) },
    logger,
  );
  monitorWatchdog.start();
  const close = async () => {
    monitorWatchdog.stop();
    await client.close();
  };
  return MongoSagaStore.open(client.db(config["mongodb-database"]), close, {
    ...DEFAULT_GROUP_COMMIT,
    delayMs: config["store-flush-delay-ms"],
    maxBatch: config["store-max-batch"],
  });
}

/** "host1:27017,host2:27017" of a MongoDB URI: no credentials, no options (they may hold key passwords). */
function mongoHosts(uri: string): string {
  const afterScheme = uri.slice(uri.indexOf("://") + 3);
  const hosts = afterScheme.slice(afterScheme.lastIndexOf("@", afterScheme.search(/[/?]|$/)) + 1);
  return hosts.split(/[/?]/)[0] ?? "";
}

/** The parts that differ between a lone node and a cluster member. */
interface Topology {
  ownership: PartitionOwnership;
  router: RequestRouter;
  status: ClusterStatusSource;
  /** After the server is up and the driver runs. */
  start(driver: SagaDriver): Promise<void>;
  /**
   * Before the driver stops: hand partitions over by `handOverBy`, and be
   * done by `deadline` (epoch ms).
   */
  stop(handOverBy: number, deadline: number): Promise<void>;
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

/** Waits for `work` until `deadline` (epoch ms); says so in the log when it gives up. */
async function until(work: Promise<unknown>, deadline: number, what: string, logger: Logger) {
  let timer: NodeJS.Timeout | undefined;
  const late = new Promise<"late">((resolve) => {
    timer = setTimeout(() => resolve("late"), Math.max(0, deadline - Date.now()));
  });
  const outcome = await Promise.race([
    work.then(
      () => "done" as const,
      (err: unknown) => {
        logger.warn({ err }, `${what} failed`);
        return "failed" as const;
      },
    ),
    late,
  ]);
  clearTimeout(timer);
  if (outcome === "late") logger.warn(`${what} did not finish within the drain timeout; going on without it`);
}

/** Retries `attempt` with capped backoff until it succeeds (etcd may be away when a node starts). */
async function retrying(attempt: () => Promise<void>, what: string, logger: Logger): Promise<void> {
  for (let failures = 1; ; failures++) {
    try {
      return await attempt();
    } catch (err) {
      logger.warn({ err }, `${what} failed; retrying`);
      await new Promise((r) => setTimeout(r, clusterRetryDelayMs(failures)));
    }
  }
}

type WatchBackoff = NonNullable<NonNullable<IOptions["faultHandling"]>["watchBackoff"]>;

/** Watch reconnects with the cluster's capped backoff (the library's default grows to 30 s). */
function watchBackoff(failures = 1): WatchBackoff {
  return { duration: clusterRetryDelayMs(failures), next: () => watchBackoff(failures + 1) };
}

/**
 * etcd's TLS (a CA, optionally a client certificate) and user/password. The
 * password comes from a file or the environment, never from the command line,
 * where `ps` and logs would show it.
 */
function etcdSecurity(config: CoordinatorConfig): Pick<IOptions, "credentials" | "auth"> {
  const read = (file: string, what: string) => {
    try {
      return readFileSync(file);
    } catch (err) {
      throw new Error(`cannot read the etcd ${what} file ${file}: ${(err as Error).message}`);
    }
  };
  const ca = config["etcd-ca"];
  const credentials = ca
    ? {
        rootCertificate: read(ca, "CA"),
        ...(config["etcd-cert"] && config["etcd-key"]
          ? {
              certChain: read(config["etcd-cert"], "certificate"),
              privateKey: read(config["etcd-key"], "key"),
            }
          : {}),
      }
    : undefined;
  const urlLogin = config["etcd-url-login"];
  const username = config["etcd-username"] ?? urlLogin?.username;
  const passwordFile = config["etcd-password-file"];
  const password = passwordFile
    ? read(passwordFile, "password").toString("utf8").trim()
    : (process.env.SAGA_ETCD_PASSWORD ?? urlLogin?.password);
  if (username && !password)
    throw new Error("--etcd-username needs a password: --etcd-password-file or env SAGA_ETCD_PASSWORD");
  return {
    ...(credentials ? { credentials } : {}),
    ...(username && password ? { auth: { username, password } } : {}),
  };
}

/** "ipv4:10.0.0.7:51234" -> "10.0.0.7"; "ipv6:[::1]:51234" -> "[::1]". */
function peerHost(peer: string): string {
  const address = peer.replace(/^ipv[46]:/, "");
  const colon = address.lastIndexOf(":");
  return colon > 0 ? address.slice(0, colon) : address;
}

/** With --auth-policy, every client and admin call is authenticated and checked against the policy. */
function authInterceptors(config: CoordinatorConfig, logger: Logger): ServerInterceptor[] {
  const file = config["auth-policy"];
  if (!file) {
    if (config.mode === "start")
      logger.warn("no --auth-policy: anyone who can reach this node may call every method");
    return [];
  }
  const policy = AccessPolicy.load(file);
  if (!config["tls-cert"]) logger.warn("--auth-policy without --tls-cert: bearer tokens travel in plaintext");
  const jwt = policy.file.jwt ? jwtVerifier(policy.file.jwt) : null;
  logger.info(
    { file, grants: policy.file.grants.length, tokens: policy.file.tokens.length, jwt: Boolean(jwt) },
    "auth policy loaded",
  );
  return [authInterceptor(policy, jwt, logger)];
}

/**
 * The etcd client: every unary call has a deadline (a stalled etcd must not
 * hang a node), and watches reconnect within 2 s of etcd coming back.
 */
function etcdClient(hosts: string[], config: CoordinatorConfig): Etcd3 {
  // Long enough for a loaded etcd, short enough that a stalled one costs a retry, not a hang.
  const callTimeoutMs = 5000;
  return new Etcd3({
    hosts,
    ...etcdSecurity(config),
    dialTimeout: 5000,
    defaultCallOptions: (context) => (context.isStream ? {} : { deadline: Date.now() + callTimeoutMs }),
    faultHandling: { watchBackoff: watchBackoff() },
  });
}

function etcdTopology(
  config: CoordinatorConfig,
  store: SagaStore,
  logger: Logger,
  hosts: string[],
  peerCredentials: ChannelCredentials,
): Topology {
  const nodeId = config["node-id"];
  const advertise = config.advertise ?? config.listen;
  const client = etcdClient(hosts, config);
  const keys = new ClusterKeys(config["etcd-prefix"]);
  const view = new ClusterView(client, keys, logger);
  let driverRef: SagaDriver | null = null;
  const driver = () => driverRef as SagaDriver;
  const membership = new NodeMembership(
    client,
    keys,
    { nodeId, address: advertise },
    config["lease-ttl-seconds"],
    logger,
  );
  const lease = () => membership.state();
  const owner = new PartitionOwner(
    client,
    keys,
    view,
    nodeId,
    config.partitions,
    lease,
    {
      claim: (partitions, fence) => store.claimPartitions(partitions, fence),
      recover: async (p) => void (await driver().recover(new Set([p]))),
      drain: (p) => driver().drainPartition(p),
      forget: (p) => driver().forgetPartition(p),
    },
    logger,
  );
  const assigner = new LeaderAssigner(client, keys, view, nodeId, config.partitions, lease, logger);
  const watchdog = new StoreWatchdog(
    () => store.ping(),
    { unavailableAfterMs: config["store-unavailable-ms"] },
    logger,
  );
  const router = new ClusterRouter(
    owner,
    view,
    advertise,
    (id) => partitionOf(id, config.partitions),
    3000,
    peerCredentials,
  );
  const changes = [(l: () => void) => view.onChange(l), (l: () => void) => membership.onChange(l)];
  return {
    ownership: owner,
    router,
    status: etcdClusterStatus(nodeId, view, config.partitions),
    async start(d) {
      driverRef = d;
      await retrying(() => view.start(), "reading the cluster state from etcd", logger);
      await membership.join();
      watchdog.onChange((healthy) => {
        owner.setStoreHealthy(healthy);
        membership.setPresent(healthy);
      });
      watchdog.start();
      owner.start(changes);
      assigner.start(changes);
    },
    async stop(handOverBy, deadline) {
      // Resign and leave the member list first so the partitions move at once; then drain and
      // release them. Every step is bounded by the drain deadline; the etcd client is closed only
      // once nothing uses it any more (whatever is still pending then is cancelled, and ignored).
      watchdog.stop();
      await until(assigner.stop(), handOverBy, "resigning the leadership", logger);
      await until(membership.withdraw(), handOverBy, "withdrawing the member key", logger);
      await owner.releaseAll(handOverBy);
      owner.stop();
      // Revoking the lease frees every key still held at once; worth a short wait even when late.
      await until(membership.leave(), deadline, "revoking the lease", logger);
      await until(view.stop(), deadline, "stopping the cluster watches", logger);
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
  // Before anything is opened: a bad registry file stops the node at once.
  const participants = ParticipantRegistry.load(config.participant, config["participants-file"]);
  let storeRef: SagaStore | null = null;
  const metrics = new CoordinatorMetrics(async () => (storeRef ? storeRef.countByStatus("FAILED") : 0));
  const store = await openStore(config, logger, metrics);
  storeRef = store;
  const bus = new SagaEventBus();
  const creds = nodeCredentials(config);
  const ownChannels = registeredParticipantChannels(config, participants);
  const transport = new GrpcParticipantTransport({
    credentials: creds.participants,
    maxOutputBytes: config["max-output-bytes"],
    channelFor: (address) => ownChannels.get(address),
  });
  let address = config.advertise ?? config.listen;
  const hosts = config["etcd-endpoints"];
  const topology = hosts
    ? etcdTopology(config, store, logger, hosts, creds.peers)
    : soleTopology(config, () => address);
  const metricsListen = config["metrics-listen"];
  const metricsServer = metricsListen ? await startMetricsServer(metricsListen, metrics.registry) : null;
  const driver = new SagaDriver(store, transport, topology.ownership, bus, logger, {
    metrics,
    pollIntervalMs: config["poll-interval-ms"],
    maxInFlightCalls: config["max-inflight-calls"],
    maxInFlightPerParticipant: config["max-inflight-calls-per-participant"],
    maxCachedSagas: config["max-cached-sagas"],
    outputLimits: { maxOutputBytes: config["max-output-bytes"], maxSagaBytes: config["max-saga-bytes"] },
    lostCallGraceMs: config["lost-call-grace-ms"],
    resolveParticipant: (p) => participants.get(p)?.address ?? p,
    partitionOf: (id) => partitionOf(id, config.partitions),
  });
  const allowDirectParticipants = config["allow-direct-participant-addresses"] ?? config.mode === "dev";
  const limits = {
    maxSteps: config["max-steps"],
    maxPayloadBytes: config["max-payload-bytes"],
    maxLabels: config["max-labels"],
    maxAttemptsPerSaga: config["max-attempts-per-saga"],
    maxSagaBytes: config["max-saga-bytes"],
    minBackoffMs: config["min-backoff-ms"],
  };
  const api = coordinatorService({
    store: driverBackedReads(store, (id) => driver.peek(id)),
    writer: driver,
    router: topology.router,
    bus,
    ownership: topology.ownership,
    partitionOf: (id) => partitionOf(id, config.partitions),
    limits,
    participants,
    allowDirectParticipants,
    watchLimits: new StreamLimits({
      perNode: config["max-watch-streams"],
      perCaller: config["max-watch-streams-per-caller"],
    }),
    // With a policy the interceptor names the caller; without one, the peer's host is all there is.
    callerOf: config["auth-policy"]
      ? (call) => String(call.metadata.get(CALLER_HEADER)[0] ?? "")
      : (call) => peerHost(call.getPeer()),
    logger,
  });
  const admin = adminService(driver, topology.status, logger, topology.router, {
    minBackoffMs: config["min-backoff-ms"],
    participants,
    allowDirectParticipants,
  });
  const { server, port, health } = await startGrpcServer(
    config.listen,
    api,
    admin,
    creds.server,
    authInterceptors(config, logger),
    // Payloads are bounded by --max-saga-bytes; 1 MiB more covers names, labels and policies of 100s of steps.
    config["max-saga-bytes"] + 1024 * 1024,
  );
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
      // One deadline for the whole drain: a node asked to stop is gone by --drain-timeout-ms.
      // Partitions are handed over first; the last quarter (at most 1 s) is kept for closing.
      const drainMs = config["drain-timeout-ms"];
      const deadline = Date.now() + drainMs;
      const handOverBy = deadline - Math.min(1000, drainMs / 4);
      setServing(health, false);
      await topology.stop(handOverBy, deadline);
      await shutdownServer(server, Math.max(0, deadline - Date.now()));
      await until(driver.stop(), deadline, "finishing in-flight participant calls", logger);
      transport.close();
      await until(store.close(), deadline, "closing the store", logger);
      metricsServer?.close();
      logger.info("coordinator stopped");
    },
  };
}
