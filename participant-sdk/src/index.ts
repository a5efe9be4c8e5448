// Public API of @saga-coordinator/participant-sdk.

// The saga.v1 types the client returns, so callers need no second import.
export {
  type Saga,
  type SagaEvent,
  SagaEventType,
  SagaStatus,
  StepKind,
  type StepState,
  StepStatus,
} from "@saga-coordinator/proto";
// Idempotency barrier.
export { Barrier, type BarrierOptions, type CompensateResult } from "./barrier/barrier.js";
export type {
  BarrierContent,
  BarrierMatch,
  BarrierRecord,
  BarrierState,
  ExecuteOutcome,
} from "./barrier/barrier-record.js";
export { BarrierRefusal, type BarrierRefusalReason } from "./barrier/barrier-refusal.js";
export type { BarrierStore, BarrierWriteOptions } from "./barrier/barrier-store.js";
export { MemoryBarrierStore } from "./barrier/memory-barrier-store.js";
export { MongoBarrierStore, type MongoBarrierStoreOptions } from "./barrier/mongo-barrier-store.js";
export { type RetryInput, SagaBuilder, type StepInput, saga } from "./client/saga-builder.js";
// Client SDK (for services that start and watch sagas).
export {
  type CallOptions,
  type ClientRetryOptions,
  type ListFilter,
  SagaClient,
  type SagaClientOptions,
  type SagaPage,
  type StartOptions,
  type StartResult,
  type WaitOptions,
  type WatchOptions,
} from "./client/saga-client.js";
export { SagaClientError } from "./client/saga-client-error.js";
export { isTerminalStatus } from "./client/terminal-status.js";
export { CONFORMANCE_RULES, type ConformanceRule } from "./conformance/conformance-rules.js";
// Conformance: the effect-count step participants expose to the kit.
export { EffectCounter } from "./conformance/effect-counter.js";
export {
  CONFORMANCE_EFFECTS_STEP,
  type EffectCounts,
  type EffectsQuery,
} from "./conformance/effects-protocol.js";
export { formatReport } from "./conformance/report-table.js";
// Conformance kit (the `saga-conformance` CLI runs the same checks).
export {
  type ConformanceOptions,
  type ConformanceReport,
  type RuleResult,
  runConformance,
} from "./conformance/run-conformance.js";
// gRPC helpers.
export { checkHealth, type ServingStatus } from "./grpc/health-client.js";
export { BusinessFailure } from "./participant/business-failure.js";
export { jsonBytes, parseJson } from "./participant/json-bytes.js";
// Participant server.
export {
  type Participant,
  type ParticipantOptions,
  startParticipant,
} from "./participant/start-participant.js";
export type {
  CompensateContext,
  ExecuteContext,
  StepContext,
  StepHandlers,
  StepOutput,
} from "./participant/step-handlers.js";
export { TransientFailure } from "./participant/transient-failure.js";
// Transport security (TLS and mTLS).
export { type AuthContextSource, peerIdentities } from "./tls/peer-identity.js";
export { ReloadingCertificateProvider, reloadTlsCertificates } from "./tls/reloading-certificate-provider.js";
export {
  DEFAULT_TLS_REFRESH_MS,
  type TlsFiles,
  tlsChannelCredentials,
  tlsServerCredentials,
} from "./tls/tls-credentials.js";
