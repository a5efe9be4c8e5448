// "Does it really answer?" checks live in the test services module (test/services).
export { etcdIsHealthy, mongoAnswersPing, waitUntil } from "../services/src/index.js";
