import { env } from "cloudflare:workers";
import { createScheduledController } from "cloudflare:test";
import worker from "../../src/worker";

/** Deliver one cron tick at `at` through the Worker's real scheduled() handler. */
export async function tick(at: number): Promise<void> {
  await worker.scheduled(createScheduledController({ scheduledTime: at, cron: "* * * * *" }), env);
}

export const MINUTE = 60_000;
