// Real test services for the tests, the benchmark and the chaos suite: etcd and
// a MongoDB-wire server (mongod, FerretDB on PostgreSQL, or mongo-java-server),
// started from local binaries on free ports, with kill/restart controls.

export {
  findFerretdb,
  findOnPath,
  findPostgresBinDir,
  mongoJavaServerJar,
  projectFerretdb,
} from "./binaries.js";
export { containerEngineAnswers, startEtcdContainer, startMongoContainer } from "./containers.js";
export { type LocalEtcdOptions, startLocalEtcd } from "./etcd.js";
export { startFerretdbOnPostgres } from "./ferretdb-postgresql.js";
export {
  type FindServicesOptions,
  startTestServices,
  type TestServices,
  TestServicesError,
} from "./find-services.js";
export { freePort } from "./free-port.js";
export { type LocalMongoOptions, MONGO_KINDS, mongoKindsFromEnv, startLocalMongo } from "./local-mongo.js";
export { startMongoJavaServer } from "./mongo-java-server.js";
export { startLocalMongod } from "./mongod.js";
export {
  etcdIsHealthy,
  mongoAnswersPing,
  mongoAnswersQueries,
  mongoServerName,
  waitUntil,
} from "./probes.js";
export {
  type BackendName,
  type MongoKind,
  NotControllableError,
  type RestartOptions,
  type RunningService,
  type ServiceControl,
  type ServiceKind,
  type ServiceSource,
} from "./running-service.js";
