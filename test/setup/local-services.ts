// The test services module (test/services) starts local servers; this file keeps
// the names tests have imported from here.
export {
  findOnPath,
  mongoJavaServerJar,
  type RunningService,
  startLocalEtcd,
  startLocalMongo,
} from "../services/src/index.js";
