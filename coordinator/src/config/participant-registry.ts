import { z } from "zod";
import { NAMESPACE_PATTERN } from "../store/saga-key.js";
import { readValidatedFile } from "./validated-file.js";

/**
 * The participants a step may name in `start` mode: from `--participant
 * NAME=HOST:PORT` flags and a `--participants-file` (YAML or JSON), each with
 * its address, the namespaces whose sagas may call it, and optionally TLS
 * settings of its own (another CA, another client certificate, the name its
 * certificate carries). Steps name participants, never addresses, so a caller
 * cannot make the coordinator dial anything that is not listed here.
 */
const NAME = /^[A-Za-z0-9._-]{1,128}$/;
const HOST_PORT = /^(?:\[[0-9A-Fa-f:.]+\]|[A-Za-z0-9._-]+):(\d{1,5})$/;

const address = z
  .string()
  .regex(HOST_PORT, "must be HOST:PORT, e.g. payments.internal:7001")
  .refine((a) => {
    const port = Number(a.slice(a.lastIndexOf(":") + 1));
    return !HOST_PORT.test(a) || (port >= 1 && port <= 65_535);
  }, "port must be in 1..65535");

const namespaces = z
  .array(
    z
      .string()
      .refine(
        (ns) => ns === "*" || NAMESPACE_PATTERN.test(ns),
        'must be a namespace ([a-z0-9-], 1..63) or "*" for all',
      ),
  )
  .min(1);

const tlsSettings = z
  .object({
    /** CA bundle the participant's certificate must chain to (default: --participant-tls-ca, else system roots). */
    ca: z.string().min(1).optional(),
    /** Client certificate shown to this participant (default: the node's participant certificate). */
    cert: z.string().min(1).optional(),
    key: z.string().min(1).optional(),
    /** The name the participant's certificate carries, when it differs from the address's host. */
    serverName: z.string().min(1).max(253).optional(),
  })
  .strict()
  .refine((t) => Boolean(t.cert) === Boolean(t.key), "give both cert and key, or neither");

const entrySchema = z
  .object({
    address,
    namespaces: namespaces.default(["*"]),
    /** TLS for this participant; `false` forces plaintext even when --participant-tls is on. */
    tls: z.union([tlsSettings, z.literal(false)]).optional(),
  })
  .strict();

export const participantsFileSchema = z
  .object({
    participants: z.record(z.string(), entrySchema).superRefine((entries, ctx) => {
      for (const name of Object.keys(entries)) {
        if (!NAME.test(name)) {
          ctx.addIssue({ code: "custom", path: [name], message: "a name is 1..128 of [A-Za-z0-9._-]" });
        }
      }
    }),
  })
  .strict();

export type ParticipantTls = z.infer<typeof tlsSettings>;

export interface RegisteredParticipant {
  name: string;
  address: string;
  /** "*" or the namespaces whose sagas may call it. */
  namespaces: ReadonlySet<string>;
  /** Own TLS settings; false: plaintext; undefined: the node's --participant-tls settings. */
  tls?: ParticipantTls | false;
}

export class ParticipantRegistryError extends Error {}

export class ParticipantRegistry {
  private readonly byName: ReadonlyMap<string, RegisteredParticipant>;
  private names_: ReadonlySet<string> | undefined;

  constructor(entries: readonly RegisteredParticipant[]) {
    const byName = new Map<string, RegisteredParticipant>();
    const tlsByAddress = new Map<string, string>();
    for (const entry of entries) {
      if (byName.has(entry.name)) {
        throw new ParticipantRegistryError(`participant "${entry.name}" is registered twice`);
      }
      // The transport keeps one channel per address, so one address has one TLS setting.
      const tls = JSON.stringify(entry.tls ?? null);
      const seen = tlsByAddress.get(entry.address);
      if (seen !== undefined && seen !== tls) {
        throw new ParticipantRegistryError(
          `participant "${entry.name}": ${entry.address} is registered under another name with other TLS settings`,
        );
      }
      tlsByAddress.set(entry.address, tls);
      byName.set(entry.name, entry);
    }
    this.byName = byName;
  }

  /** `--participant NAME=HOST:PORT` flags (any namespace, the node's TLS) plus the entries of `file`. */
  static load(flags: Readonly<Record<string, string>>, file?: string): ParticipantRegistry {
    const entries: RegisteredParticipant[] = Object.entries(flags).map(([name, addr]) => ({
      name,
      address: addr,
      namespaces: new Set(["*"]),
    }));
    if (file) {
      for (const [name, e] of Object.entries(readParticipantsFile(file).participants)) {
        entries.push({ name, address: e.address, namespaces: new Set(e.namespaces), tls: e.tls });
      }
    }
    return new ParticipantRegistry(entries);
  }

  get names(): string[] {
    return [...this.byName.keys()];
  }

  /** The registered names as a set, built once (StartSaga checks every step against it). */
  get nameSet(): ReadonlySet<string> {
    this.names_ ??= new Set(this.byName.keys());
    return this.names_;
  }

  get entries(): RegisteredParticipant[] {
    return [...this.byName.values()];
  }

  get(name: string): RegisteredParticipant | undefined {
    return this.byName.get(name);
  }

  /** Whether sagas of `namespace` may call the participant `name` (true for names not registered here). */
  allows(name: string, namespace: string): boolean {
    const entry = this.byName.get(name);
    return !entry || entry.namespaces.has("*") || entry.namespaces.has(namespace);
  }
}

function readParticipantsFile(path: string): z.infer<typeof participantsFileSchema> {
  return readValidatedFile(
    path,
    participantsFileSchema,
    "participants file",
    (m) => new ParticipantRegistryError(m),
  );
}
