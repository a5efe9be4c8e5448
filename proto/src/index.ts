// Public entry point of the generated saga.v1 code. The files under gen/ are
// produced by `buf generate` (ts-proto) and never edited by hand.

export { fileDescriptorProtos } from "./file-descriptors.js";
export type { Duration } from "./gen/google/protobuf/duration.js";
export * from "./gen/saga/v1/admin.js";
export * from "./gen/saga/v1/coordinator.js";
export * from "./gen/saga/v1/participant.js";
export * from "./gen/saga/v1/saga.js";
export { decodeStringsStrictly } from "./strict-utf8.js";
