import { etcdIsHealthy, mongoAnswersPing, waitUntil } from "./probes.js";
import type { RunningService } from "./running-service.js";
import { remoteService } from "./service.js";

// Last resort before giving up: etcd and MongoDB in containers, via testcontainers,
// when a Docker (or compatible) engine answers. testcontainers is imported lazily
// so machines without Docker never load it. Containers are not killed/restarted
// through this module (controllable: false).

const ETCD_IMAGE = "quay.io/coreos/etcd:v3.5.17";
const MONGO_IMAGE = "mongo:7";
const READY_TIMEOUT_MS = 60_000;

/** True when testcontainers finds a working container engine. */
export async function containerEngineAnswers(): Promise<boolean> {
  const { getContainerRuntimeClient } = await import("testcontainers");
  try {
    await getContainerRuntimeClient();
    return true;
  } catch {
    return false;
  }
}

export async function startEtcdContainer(): Promise<RunningService> {
  const { GenericContainer, Wait } = await import("testcontainers");
  // biome-ignore format: one flag and its value per line
  const container = await new GenericContainer(ETCD_IMAGE)
    .withCommand([
      "/usr/local/bin/etcd",
      "--name", "saga-test", "--data-dir", "/tmp/etcd-data",
      "--listen-client-urls", "http://0.0.0.0:2379", "--advertise-client-urls", "http://127.0.0.1:2379",
    ])
    .withExposedPorts(2379)
    .withWaitStrategy(Wait.forHttp("/health", 2379))
    .start();
  const hostPort = `${container.getHost()}:${container.getMappedPort(2379)}`;
  const url = `http://${hostPort}`;
  await waitUntil("etcd container", () => etcdIsHealthy(url), { timeoutMs: READY_TIMEOUT_MS });
  const description = `etcd (container ${ETCD_IMAGE}) on ${hostPort}`;
  return remoteService({ url, kind: "etcd", source: "container", description, durable: true }, () =>
    stopQuietly(container),
  );
}

export async function startMongoContainer(): Promise<RunningService> {
  const { GenericContainer, Wait } = await import("testcontainers");
  const container = await new GenericContainer(MONGO_IMAGE)
    .withExposedPorts(27017)
    .withWaitStrategy(Wait.forLogMessage(/Waiting for connections/))
    .start();
  const hostPort = `${container.getHost()}:${container.getMappedPort(27017)}`;
  const url = `mongodb://${hostPort}/`;
  await waitUntil("MongoDB container", () => mongoAnswersPing(url), { timeoutMs: READY_TIMEOUT_MS });
  const description = `mongod (container ${MONGO_IMAGE}) on ${hostPort}`;
  return remoteService({ url, kind: "mongod", source: "container", description, durable: true }, () =>
    stopQuietly(container),
  );
}

async function stopQuietly(container: { stop(): Promise<unknown> }): Promise<void> {
  try {
    await container.stop();
  } catch {
    // testcontainers' reaper removes it anyway
  }
}
