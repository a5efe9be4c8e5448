import { setTimeout as sleep } from "node:timers/promises";
import {
  BusinessFailure,
  CONFORMANCE_EFFECTS_STEP,
  type EffectCounter,
  jsonBytes,
  parseJson,
  type StepContext,
  type StepHandlers,
} from "@saga-coordinator/participant-sdk";
import type { Wallet } from "./wallet.js";

/** Payload of both steps. */
interface Transfer {
  account: string;
  amount: number;
}

function transferOf(ctx: StepContext): Transfer {
  const t = parseJson<Partial<Transfer> | undefined>(ctx.payload);
  if (
    typeof t?.account !== "string" ||
    t.account === "" ||
    !Number.isInteger(t.amount) ||
    (t.amount ?? 0) <= 0
  ) {
    throw new BusinessFailure('payload must be JSON {"account": "<id>", "amount": <positive integer>}');
  }
  return t as Transfer;
}

/**
 * The wallet's steps: `debit` takes money (refused when the balance is too
 * low), `credit` adds it; each compensation reverses its step. Every applied
 * effect is counted for the conformance kit's `conformance.effects` step.
 * `latencyMs` simulates a slow downstream call inside each handler.
 */
export function walletSteps(
  wallet: Wallet,
  effects: EffectCounter,
  latencyMs = 0,
): Record<string, StepHandlers> {
  return {
    debit: {
      execute: async (ctx) => {
        const { account, amount } = transferOf(ctx);
        await sleep(latencyMs, undefined, { signal: ctx.signal });
        if (wallet.balance(account) < amount) {
          throw new BusinessFailure(
            `insufficient funds: ${account} has ${wallet.balance(account)}, needs ${amount}`,
          );
        }
        const balance = wallet.adjust(account, -amount);
        effects.executed(ctx);
        ctx.logger.info({ account, amount, balance }, "debited");
        return jsonBytes({ account, debited: amount, balance });
      },
      compensate: async (ctx) => {
        const { account, amount } = transferOf(ctx);
        const balance = wallet.adjust(account, amount);
        effects.compensated(ctx);
        ctx.logger.info({ account, amount, balance, reason: ctx.reason }, "debit refunded");
      },
    },
    credit: {
      execute: async (ctx) => {
        const { account, amount } = transferOf(ctx);
        await sleep(latencyMs, undefined, { signal: ctx.signal });
        const balance = wallet.adjust(account, amount);
        effects.executed(ctx);
        ctx.logger.info({ account, amount, balance }, "credited");
        return jsonBytes({ account, credited: amount, balance });
      },
      compensate: async (ctx) => {
        const { account, amount } = transferOf(ctx);
        const balance = wallet.adjust(account, -amount);
        effects.compensated(ctx);
        ctx.logger.info({ account, amount, balance, reason: ctx.reason }, "credit reversed");
      },
    },
    [CONFORMANCE_EFFECTS_STEP]: effects.step(),
  };
}
