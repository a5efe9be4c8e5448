// Values test/setup/global-setup.ts hands to integration tests via `inject(...)`.
declare module "vitest" {
  export interface ProvidedContext {
    /** Comma-separated etcd client URLs, e.g. "http://127.0.0.1:23791". */
    etcdEndpoints: string;
    /** MongoDB connection string of a real MongoDB-wire server. */
    mongoUri: string;
  }
}

// Makes this file a module, so the block above augments "vitest" instead of replacing it.
export {};
