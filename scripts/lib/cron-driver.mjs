// Local Cron Triggers: local workerd does not run them by itself, so npm start fires each cron of wrangler.toml
// at every minute boundary it matches, with that minute as scheduledTime, as Cloudflare does.
import { nextRunAfter } from "../../src/engine/cron.ts";

const MINUTE = 60_000;

/**
 * Fire the Worker's scheduled() through miniflare's trigger endpoint (`/cdn-cgi/local/scheduled?cron&time`), the
 * same handler Cloudflare calls. `catchUp` also fires the current minute at once: the clock was not running while
 * this process was down, and every job is idempotent for a repeated minute.
 */
export function driveCron({ baseUrl, crons, log, catchUp = true }) {
  let timer = null;
  let stopped = false;
  const due = (cron, minute) => nextRunAfter(cron, "UTC", minute - 1) === minute;

  async function fire(minute) {
    for (const cron of crons.filter((c) => due(c, minute))) {
      const url = `${baseUrl}/cdn-cgi/local/scheduled?cron=${encodeURIComponent(cron)}&time=${minute}&format=json`;
      try {
        const res = await fetch(url, { signal: AbortSignal.timeout(5 * MINUTE) });
        const body = await res.json().catch(() => ({}));
        if (!res.ok || body.outcome !== "ok")
          log(
            `cron ${cron} at ${iso(minute)}: ${body.outcome ?? res.status} (the Worker's log line says which job failed)`,
          );
      } catch (err) {
        log(`cron ${cron} at ${iso(minute)}: not delivered (${err.message})`);
      }
    }
  }

  function arm() {
    if (stopped) return;
    const next = Math.floor(Date.now() / MINUTE) * MINUTE + MINUTE;
    timer = setTimeout(async () => {
      await fire(next);
      arm();
    }, next - Date.now());
  }

  if (catchUp) fire(Math.floor(Date.now() / MINUTE) * MINUTE).finally(arm);
  else arm();
  return {
    stop() {
      stopped = true;
      if (timer) clearTimeout(timer);
    },
  };
}

const iso = (ms) => new Date(ms).toISOString().slice(11, 16) + "Z";
