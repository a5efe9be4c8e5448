// "@saga-coordinator/participant-sdk/client": start, watch, list and cancel sagas.
export {
  type Saga,
  type SagaEvent,
  SagaEventType,
  SagaStatus,
  StepKind,
  type StepState,
  StepStatus,
} from "@saga-coordinator/proto";
export { type RetryInput, SagaBuilder, type StepInput, saga } from "../client/saga-builder.js";
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
} from "../client/saga-client.js";
export { SagaClientError } from "../client/saga-client-error.js";
export { isTerminalStatus } from "../client/terminal-status.js";
export { tlsChannelCredentials } from "../tls/tls-credentials.js";
