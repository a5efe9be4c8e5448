// Public API of @saga-coordinator/participant-sdk: everything but the MongoDB
// barrier store, which is "@saga-coordinator/participant-sdk/barrier/mongodb"
// so that nothing here loads a database driver (an optional peer dependency).
// The narrower entry points this one is made of: ./client, ./participant, ./conformance.

export * from "./entry/client.js";
export * from "./entry/conformance.js";
export * from "./entry/participant.js";
