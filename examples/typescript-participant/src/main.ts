import { EffectCounter, startParticipant } from "@saga-coordinator/participant-sdk";
import { MongoBarrierStore } from "@saga-coordinator/participant-sdk/barrier/mongodb";
import { Command, InvalidArgumentError } from "commander";
import { MongoClient } from "mongodb";
import { pino } from "pino";
import { Wallet } from "./wallet.js";
import { walletSteps } from "./wallet-steps.js";

function nonNegativeInt(value: string): number {
  const n = Number(value);
  if (!Number.isInteger(n) || n < 0) throw new InvalidArgumentError("must be an integer >= 0");
  return n;
}

const options = new Command("wallet-participant")
  .description("Example saga participant: a wallet with `debit` and `credit` steps.")
  .option(
    "--listen <host:port>",
    "address to serve on (env PARTICIPANT_LISTEN)",
    process.env.PARTICIPANT_LISTEN ?? "127.0.0.1:50061",
  )
  .option(
    "--mongo-uri <uri>",
    "keep barrier records in MongoDB instead of memory (env PARTICIPANT_MONGODB_URI)",
    process.env.PARTICIPANT_MONGODB_URI,
  )
  .option("--opening-balance <n>", "balance of a new account", nonNegativeInt, 1000)
  .option("--latency-ms <ms>", "simulated downstream latency per call", nonNegativeInt, 0)
  .parse()
  .opts<{ listen: string; mongoUri?: string; openingBalance: number; latencyMs: number }>();

const logger = pino({ name: "wallet-participant", level: process.env.LOG_LEVEL ?? "info" });
const mongo = options.mongoUri ? new MongoClient(options.mongoUri) : undefined;

const participant = await startParticipant({
  listen: options.listen,
  steps: walletSteps(new Wallet(options.openingBalance), new EffectCounter(), options.latencyMs),
  barrier: mongo ? new MongoBarrierStore(mongo.db("wallet_participant")) : undefined,
  logger,
  handleSignals: true,
});

// SIGTERM/SIGINT: the SDK drains in-flight calls; then release what we opened.
await participant.closed;
await mongo?.close();
