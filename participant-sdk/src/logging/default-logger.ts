import { type Logger, pino } from "pino";

/** pino at the level from env LOG_LEVEL (default "info"), writing JSON lines to stdout. */
export function defaultLogger(name: string): Logger {
  return pino({ name, level: process.env.LOG_LEVEL ?? "info" });
}
