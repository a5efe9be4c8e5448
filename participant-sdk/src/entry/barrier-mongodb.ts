// "@saga-coordinator/participant-sdk/barrier/mongodb": the barrier on MongoDB.
// Needs the `mongodb` package (an optional peer dependency of this SDK).
export { MongoBarrierStore, type MongoBarrierStoreOptions } from "../barrier/mongo-barrier-store.js";
