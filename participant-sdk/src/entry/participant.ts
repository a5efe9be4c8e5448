// "@saga-coordinator/participant-sdk/participant": serve Execute and Compensate
// behind the idempotency barrier (in memory here; MongoDB: ./barrier/mongodb).
export { Barrier, type BarrierOptions, type CompensateResult } from "../barrier/barrier.js";
export type {
  BarrierContent,
  BarrierMatch,
  BarrierRecord,
  BarrierState,
  ExecuteOutcome,
} from "../barrier/barrier-record.js";
export { BarrierRefusal, type BarrierRefusalReason } from "../barrier/barrier-refusal.js";
export type { BarrierStore, BarrierWriteOptions, DatabaseSession } from "../barrier/barrier-store.js";
export { MemoryBarrierStore } from "../barrier/memory-barrier-store.js";
export { EffectCounter } from "../conformance/effect-counter.js";
export {
  CONFORMANCE_EFFECTS_STEP,
  type EffectCounts,
  type EffectsQuery,
} from "../conformance/effects-protocol.js";
export { checkHealth, type ServingStatus } from "../grpc/health-client.js";
export { BusinessFailure } from "../participant/business-failure.js";
export { jsonBytes, parseJson } from "../participant/json-bytes.js";
export {
  type Participant,
  type ParticipantOptions,
  startParticipant,
} from "../participant/start-participant.js";
export type {
  CompensateContext,
  ExecuteContext,
  StepContext,
  StepHandlers,
  StepOutput,
} from "../participant/step-handlers.js";
export { TransientFailure } from "../participant/transient-failure.js";
export { type AuthContextSource, peerIdentities } from "../tls/peer-identity.js";
export {
  ReloadingCertificateProvider,
  reloadTlsCertificates,
} from "../tls/reloading-certificate-provider.js";
export { DEFAULT_TLS_REFRESH_MS, type TlsFiles, tlsServerCredentials } from "../tls/tls-credentials.js";
