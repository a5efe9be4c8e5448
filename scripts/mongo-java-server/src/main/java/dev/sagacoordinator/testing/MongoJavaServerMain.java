package dev.sagacoordinator.testing;

import de.bwaldvogel.mongo.MongoServer;
import de.bwaldvogel.mongo.MongoVersion;
import de.bwaldvogel.mongo.backend.memory.MemoryBackend;
import java.net.InetSocketAddress;
import java.util.Arrays;
import java.util.List;
import java.util.Map;
import java.util.concurrent.CountDownLatch;

/**
 * Runs mongo-java-server (in-memory backend) for tests.
 *
 * <p>Usage: {@code java -jar mongo-java-server.jar [host] [port]}; defaults come from
 * MONGO_JAVA_SERVER_HOST / MONGO_JAVA_SERVER_PORT, then 127.0.0.1 and 27017. Port 0 picks a
 * free port. Prints {@code listening HOST:PORT} once bound; SIGTERM/SIGINT shut it down.
 *
 * <p>mongo-java-server 1.46 reports MongoDB 4.0 (wire version 7), which the Node.js driver 7
 * refuses (it needs wire version 9). The reported version is only used in the hello/buildInfo
 * replies, so we advertise MONGO_JAVA_SERVER_VERSION (default 4.4) instead. This changes no
 * server behaviour: anything the server does not implement still fails with a server error.
 */
public final class MongoJavaServerMain {
  private static final Map<String, Integer> WIRE_VERSIONS =
      Map.of("4.0", 7, "4.2", 8, "4.4", 9, "5.0", 13, "6.0", 17, "7.0", 21);

  public static void main(String[] args) throws InterruptedException {
    System.setProperty("org.slf4j.simpleLogger.defaultLogLevel", env("MONGO_JAVA_SERVER_LOG_LEVEL", "warn"));
    System.setProperty("org.slf4j.simpleLogger.logFile", "System.err");

    String host = args.length > 0 ? args[0] : env("MONGO_JAVA_SERVER_HOST", "127.0.0.1");
    int port = Integer.parseInt(args.length > 1 ? args[1] : env("MONGO_JAVA_SERVER_PORT", "27017"));

    MemoryBackend backend = new MemoryBackend();
    backend.version(advertisedVersion(env("MONGO_JAVA_SERVER_VERSION", "4.4")));
    MongoServer server = new MongoServer(backend);
    server.bind(host, port);
    InetSocketAddress bound = server.getLocalAddress();

    CountDownLatch stopped = new CountDownLatch(1);
    Runtime.getRuntime().addShutdownHook(new Thread(() -> {
      server.shutdownNow(); // in-memory data is thrown away anyway; no need for a grace period
      stopped.countDown();
    }, "shutdown"));

    System.out.println("listening " + bound.getHostString() + ":" + bound.getPort());
    System.out.flush();
    stopped.await();
  }

  private static MongoVersion advertisedVersion(String version) {
    Integer wire = WIRE_VERSIONS.get(version);
    if (wire == null) {
      throw new IllegalArgumentException("MONGO_JAVA_SERVER_VERSION must be one of " + WIRE_VERSIONS.keySet());
    }
    List<Integer> parts = Arrays.stream((version + ".0").split("\\.")).map(Integer::valueOf).toList();
    return new MongoVersion() {
      @Override
      public List<Integer> getVersionArray() {
        return parts;
      }

      @Override
      public int getWireVersion() {
        return wire;
      }
    };
  }

  private static String env(String name, String fallback) {
    String value = System.getenv(name);
    return value == null || value.isBlank() ? fallback : value;
  }
}
