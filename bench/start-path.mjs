// Where the fixed cost of a start goes (issue: the fixed cost of one execution): POST /v1/workflows/:id/executions
// of a 1-node workflow, sequentially, split by the Server-Timing steps the Worker reports (d1 = the one batch that
// reads the key and the workflow and claims an Idempotency-Key, admit = the one TenantObject call for the token, the
// concurrency key and a slot, object = the ExecutionObject's start RPC, total = the Worker's whole handling), with
// X-D1-Queries, X-D1-Round-Trips and workerd CPU per start (which includes running the 1-node execution it started,
// in the background).

function timingsOf(header) {
  const out = {};
  for (const metric of (header ?? "").split(",")) {
    const [name, ...params] = metric.split(";").map((p) => p.trim());
    const dur = params.find((p) => p.startsWith("dur="));
    if (name && dur) out[name] = Number(dur.slice(4));
  }
  return out;
}

export async function startPath({ base, key, workflowId, measure, quantile, fmt }) {
  const rows = [];
  // The floor: the same harness's HTTP round trip to a Worker route that does nothing (wrangler dev's proxy too).
  console.log("\nThe HTTP floor: GET /bench/noop from the harness");
  const floor = await measure(
    "client wall",
    async () => {
      const t = performance.now();
      await (await fetch(`${base}/bench/noop`)).text();
      return performance.now() - t;
    },
    200,
  );
  rows.push({ label: "floor", wall: floor });
  // What every /v1 request pays before its own work (request context, auth, rate limit) plus one small D1 read.
  console.log("\nAn authenticated read: GET /v1/workflows/:id (auth, rate, one D1 read)");
  const read = await measure(
    "client wall",
    async () => {
      const t = performance.now();
      const res = await fetch(`${base}/v1/workflows/${workflowId}`, { headers: { authorization: `Bearer ${key}` } });
      await res.text();
      if (!res.ok) throw new Error(`read answered ${res.status}`);
      return performance.now() - t;
    },
    200,
  );
  rows.push({ label: "authenticated read", wall: read });
  for (const keyed of [false, true]) {
    const steps = {};
    const queries = [];
    const trips = [];
    const post = async () => {
      const t = performance.now();
      const res = await fetch(`${base}/v1/workflows/${workflowId}/executions`, {
        method: "POST",
        headers: {
          authorization: `Bearer ${key}`,
          "content-type": "application/json",
          ...(keyed ? { "idempotency-key": crypto.randomUUID() } : {}),
        },
        body: "{}",
      });
      await res.text();
      const ms = performance.now() - t;
      if (res.status !== 201) throw new Error(`start answered ${res.status}`);
      for (const [name, dur] of Object.entries(timingsOf(res.headers.get("server-timing"))))
        (steps[name] ??= []).push(dur);
      queries.push(Number(res.headers.get("x-d1-queries")));
      trips.push(Number(res.headers.get("x-d1-round-trips")));
      return ms;
    };
    const label = keyed ? "with Idempotency-Key" : "without Idempotency-Key";
    console.log(`\nStart path, ${label}: 200 sequential starts of a 1-node workflow, to the 201`);
    const m = await measure("client wall", post, 200);
    for (const [name, xs] of Object.entries(steps))
      console.log(`    ${name.padEnd(12)} median ${fmt(quantile(xs, 0.5))} ms, p90 ${fmt(quantile(xs, 0.9))} ms`);
    console.log(`    D1 statements per start: ${quantile(queries, 0.5)}, round trips: ${quantile(trips, 0.5)}`);
    rows.push({ label, wall: m, steps, d1: quantile(queries, 0.5), trips: quantile(trips, 0.5) });
  }
  return rows;
}
