/**
 * What each role may call. Pure data: the auth interceptor checks a call's
 * full method path ("/saga.v1.CoordinatorService/StartSaga") against it.
 */
export const ROLES = ["reader", "client", "admin", "node"] as const;
export type Role = (typeof ROLES)[number];

const COORDINATOR = "/saga.v1.CoordinatorService/";
const ADMIN = "/saga.v1.AdminService/";
const READ = ["GetSaga", "ListSagas", "WatchSaga"].map((m) => COORDINATOR + m);
const WRITE = ["StartSaga", "CancelSaga"].map((m) => COORDINATOR + m);

/** Methods of each role; `admin` and `node` (other coordinators, forwarding) may call everything. */
const ALLOWED: Record<Role, (method: string) => boolean> = {
  reader: (m) => READ.includes(m),
  client: (m) => READ.includes(m) || WRITE.includes(m),
  admin: (m) => m.startsWith(COORDINATOR) || m.startsWith(ADMIN),
  node: (m) => m.startsWith(COORDINATOR) || m.startsWith(ADMIN),
};

/** Whether any of `roles` allows `method`. */
export function roleAllows(roles: Iterable<Role>, method: string): boolean {
  for (const role of roles) if (ALLOWED[role](method)) return true;
  return false;
}

/** Methods whose request names a namespace (the caller needs its role there); the rest need it anywhere. */
export function isNamespaced(method: string): boolean {
  return method.startsWith(COORDINATOR) || method === `${ADMIN}ResumeSaga`;
}

/** The services the policy guards; others (health, reflection) stay open. */
export function isGuarded(method: string): boolean {
  return method.startsWith(COORDINATOR) || method.startsWith(ADMIN);
}
