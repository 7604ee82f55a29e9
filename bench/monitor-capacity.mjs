// Monitor capacity: how many http monitors at a 5-minute interval one deployment keeps on schedule. N monitors are
// seeded with their first checks spread over one interval (so each minute's tick finds N/5 due), against a local
// site that answers after a delay like a remote one; five ticks (one interval) are driven back to back. On schedule
// means every tick checked everything due in it, within its minute.
import { createServer } from "node:http";

const SITE_PORT = 8794;
const INTERVAL_S = 300;
const MINUTE = 60_000;

/** A site that answers 200 after `delayMs`, as a remote page does; counts what it served. */
function startSite(delayMs) {
  let served = 0;
  const server = createServer((req, res) => {
    setTimeout(() => {
      served++;
      res.writeHead(200, { "content-type": "text/plain" });
      res.end("ok");
    }, delayMs);
  });
  return new Promise((resolve) =>
    server.listen(SITE_PORT, "127.0.0.1", () =>
      resolve({ served: () => served, close: () => new Promise((r) => server.close(r)) }),
    ),
  );
}

export async function monitorCapacity({ get, fmt }, n = 10_000, delayMs = 50) {
  console.log(`\nMonitors: ${n} http monitors every ${INTERVAL_S / 60} min against a site answering in ${delayMs} ms`);
  const site = await startSite(delayMs);
  try {
    const start = Date.UTC(2030, 0, 1);
    await get(
      `/bench/monitors/seed?n=${n}&interval=${INTERVAL_S}&start=${start}&url=http://127.0.0.1:${SITE_PORT}/page`,
    );
    const ticks = [];
    for (let i = 1; i <= INTERVAL_S / 60; i++) {
      const t = await get(`/bench/monitors/tick?now=${start + i * MINUTE - 1}`);
      ticks.push(t);
      console.log(
        `  tick ${i}: ${t.checked} checks in ${fmt(t.ms / 1000, 1)} s${t.failed ? `, ${t.failed} failed (${t.first_failure})` : ""}`,
      );
    }
    const counts = await get("/bench/monitors/counts");
    const worst = Math.max(...ticks.map((t) => t.ms));
    const perSecond = ticks.reduce((a, t) => a + t.checked, 0) / (ticks.reduce((a, t) => a + t.ms, 0) / 1000);
    const onSchedule = counts.monitors === n && counts.checks === n && worst < MINUTE;
    // What one deployment could keep on schedule at this rate: checks per minute times the interval in minutes,
    // bounded by what one tick claims (MONITOR_CHECKS_PER_TICK, 5,000 by default).
    const sustainable = Math.min(perSecond * 60, 5000) * (INTERVAL_S / 60);
    const summary =
      `Monitors: ${n} at a ${INTERVAL_S / 60}-minute interval ${onSchedule ? "kept on schedule" : "NOT kept on schedule"}: ` +
      `${counts.checks} checks of ${counts.monitors} monitors over one interval (${counts.up} up), the slowest tick ` +
      `${fmt(worst / 1000, 1)} s of its 60; ${fmt(perSecond, 0)} checks/s, so about ${Math.floor(sustainable).toLocaleString("en-US")} monitors at this interval (target >= 10,000).`;
    console.log(`  ${summary}`);
    return {
      summary,
      rows: [
        `| monitors at a ${INTERVAL_S / 60}-minute interval (site answers in ${delayMs} ms) | checks in one interval | slowest tick | checks/s | monitors kept on schedule (est.) |`,
        "| --- | ---: | ---: | ---: | ---: |",
        `| ${n} | ${counts.checks} of ${counts.monitors} monitors | ${fmt(worst / 1000, 1)} s | ${fmt(perSecond, 0)} | ${Math.floor(sustainable).toLocaleString("en-US")} |`,
      ],
    };
  } finally {
    await site.close();
  }
}
