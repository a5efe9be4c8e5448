import type {
  AdminServiceServer,
  GetClusterStatusResponse,
  ResumeSagaRequest,
} from "@saga-coordinator/proto";
import type { Logger } from "pino";
import { ParticipantRegistry } from "../config/participant-registry.js";
import { localRouter, type RequestRouter, unaryCall } from "./request-router.js";
import { requireNamespace, requireReason, requireSagaKey } from "./request-validation.js";
import { sagaToProto } from "./saga-to-proto.js";
import type { SagaWriter } from "./saga-writer.js";
import { type OverrideRules, stepOverridesFromRequest } from "./step-overrides.js";
import { unary } from "./unary-handler.js";

/** Where cluster status comes from: a fixed single-node view without etcd, etcd in a cluster. */
export interface ClusterStatusSource {
  status(): Promise<Omit<GetClusterStatusResponse, "observedAt">>;
}

export function adminService(
  writer: SagaWriter,
  cluster: ClusterStatusSource,
  logger: Logger,
  router: RequestRouter = localRouter,
  overrideRules: OverrideRules = {
    minBackoffMs: 10,
    participants: new ParticipantRegistry([]),
    allowDirectParticipants: true,
  },
): AdminServiceServer {
  return {
    resumeSaga: unary(logger, async (req: ResumeSagaRequest, opts) => {
      const sagaId = requireSagaKey(req);
      const reason = requireReason(req.reason);
      const overrides = stepOverridesFromRequest(
        req.overrides,
        requireNamespace(req.namespace),
        overrideRules,
      );
      return router.route(
        sagaId,
        opts,
        async () => ({ saga: sagaToProto(await writer.resume(sagaId, reason, overrides)) }),
        (node, md, o) => unaryCall(node.admin, node.admin.resumeSaga, req, md, o),
      );
    }),
    getClusterStatus: unary(logger, async () => ({ ...(await cluster.status()), observedAt: new Date() })),
  };
}
