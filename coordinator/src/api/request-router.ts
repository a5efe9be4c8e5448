import type { CallOptions, Metadata } from "@grpc/grpc-js";
import type { AdminServiceClient, CoordinatorServiceClient } from "@saga-coordinator/proto";

export interface WriteOptions {
  /** The request was already forwarded once by another node: never forward it again. */
  forwarded?: boolean;
  /** The caller's deadline (epoch ms), carried over when forwarding. */
  deadline?: number;
  /** The caller's bearer credentials, carried over when forwarding so the owner authorizes the same caller. */
  authorization?: string;
}

/** Metadata key that marks a request forwarded between nodes. */
export const FORWARDED_HEADER = "x-saga-forwarded";

/** Clients for another coordinator node. */
export interface RemoteNode {
  coordinator: CoordinatorServiceClient;
  admin: AdminServiceClient;
}

export type RemoteCall<T> = (node: RemoteNode, metadata: Metadata, options: CallOptions) => Promise<T>;

/**
 * Decides where a state-changing request runs: here when this node owns the
 * saga's partition, otherwise on the owner (one hop, deadline preserved).
 */
export interface RequestRouter {
  route<T>(sagaId: string, opts: WriteOptions, local: () => Promise<T>, remote: RemoteCall<T>): Promise<T>;
}

/** A node without a cluster owns everything. */
export const localRouter: RequestRouter = {
  route: (_sagaId, _opts, local) => local(),
};

/** Promisifies a generated grpc-js unary client method. */
export function unaryCall<Req, Res>(
  client: object,
  method: (req: Req, md: Metadata, opts: CallOptions, cb: (err: Error | null, res: Res) => void) => unknown,
  req: Req,
  metadata: Metadata,
  options: CallOptions,
): Promise<Res> {
  return new Promise((resolve, reject) =>
    method.call(client, req, metadata, options, (err, res) => (err ? reject(err) : resolve(res))),
  );
}
