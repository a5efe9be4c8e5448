import { Metadata, type ServiceError } from "@grpc/grpc-js";

type UnaryMethod<Req, Res> = (
  req: Req,
  metadata: Metadata,
  options: { deadline: number },
  cb: (err: ServiceError | null, res: Res) => void,
) => unknown;

/** Calls a generated grpc-js unary method as a promise with a deadline. */
export function call<Req, Res>(
  method: UnaryMethod<Req, Res>,
  target: object,
  req: Req,
  timeoutMs = 10_000,
): Promise<Res> {
  return new Promise((resolve, reject) =>
    method.call(target, req, new Metadata(), { deadline: Date.now() + timeoutMs }, (err, res) =>
      err ? reject(err) : resolve(res),
    ),
  );
}

/** The gRPC error of a call that must fail. */
export async function callError<Req, Res>(
  method: UnaryMethod<Req, Res>,
  target: object,
  req: Req,
): Promise<ServiceError> {
  try {
    await call(method, target, req);
  } catch (err) {
    return err as ServiceError;
  }
  throw new Error("expected the call to fail");
}
