// Migrations (issue: fork and migrate): N executions (MIGRATE_RUNS, 1,000 by default) parked at a wait node on v1
// move to a v2 that inserts a node after the wait and renames an unrelated one (node_map); the dry run, the move, a
// v3 that drops a completed node read downstream (refused for every parked run), then all N finishing on v2. Over
// real sockets. Parked runs give their running slots back, so all N reach the wait whatever the tenant's slots.
const N = Number(process.env.MIGRATE_RUNS ?? 1000);

export async function migrations({ base, key, api, fmt }) {
  const call = (method, path, body) => api(method, path, key, body);
  const v1 = [
    { id: "order", kind: "transform", config: { expression: "{'placed': true}" } },
    { id: "tag", kind: "transform", config: { expression: "'t'" } },
    { id: "w", kind: "wait_for_event", needs: ["order"], config: { event: "go" } },
    { id: "sum", kind: "transform", needs: ["w", "tag"], config: { expression: "nodes.order.output.placed" } },
  ];
  const wf = (await call("POST", "/v1/workflows", { name: "bench-migrate", nodes: v1 })).id;
  const started = await call("POST", `/v1/workflows/${wf}/executions/batch`, {
    lane: "default",
    items: Array.from({ length: N }, () => ({ input: {} })),
  });
  const ids = started.items.map((i) => i.id);
  const v2 = [
    v1[0],
    { ...v1[1], id: "label" },
    v1[2],
    { id: "check", kind: "transform", needs: ["w"], config: { expression: "1" } },
    { ...v1[3], needs: ["check", "label"] },
  ];
  await call("PUT", `/v1/workflows/${wf}`, { name: "bench-migrate", nodes: v2 });
  const ask = { from: 1, to: 2, node_map: { tag: "label" } };
  // Parked and listed: the dry run itself says when all N are there and movable.
  let dry;
  const t0 = performance.now();
  for (let i = 0; ; i++) {
    const t = performance.now();
    dry = await call("POST", `/v1/workflows/${wf}/migrations`, ask);
    dry.ms = performance.now() - t;
    if (dry.movable === N) break;
    if (i > 30 || performance.now() - t0 > 120_000) {
      const why = [...new Set(dry.executions.map((e) => e.reason ?? "movable"))].slice(0, 5);
      throw new Error(`only ${dry.movable} of ${N} movable: ${why.join(" | ")}`);
    }
    await new Promise((r) => setTimeout(r, 200));
  }
  const t1 = performance.now();
  const moved = await call("POST", `/v1/workflows/${wf}/migrations`, { ...ask, dry_run: false });
  const moveMs = performance.now() - t1;
  if (moved.moved !== N) throw new Error(`moved ${moved.moved} of ${N}`);
  // v3 drops the completed order node (w reads it): refused for every parked run (asked while all of them wait).
  const v3 = [
    { ...v2[2], needs: [] },
    v2[3],
    { id: "sum", kind: "transform", needs: ["check"], config: { expression: "0" } },
  ];
  await call("PUT", `/v1/workflows/${wf}`, { name: "bench-migrate", nodes: v3 });
  let refused;
  let last = -1;
  for (let i = 0; ; i++) {
    refused = await call("POST", `/v1/workflows/${wf}/migrations`, { from: 2, to: 3 });
    // Until every run that holds a slot has placed its order and parked (the same count twice); the queued ones
    // have run nothing, so they may move.
    if (refused.blocked > 0 && refused.blocked === last) break;
    last = refused.blocked;
    if (i > 60) {
      const why = [...new Set(refused.executions.map((e) => e.reason ?? "movable"))].slice(0, 5);
      throw new Error(`only ${refused.blocked} of ${refused.total} parked runs refused v3: ${why.join(" | ")}`);
    }
    await new Promise((r) => setTimeout(r, 200));
  }
  // Then the event each run waits for: all finish on v2, and none ran its order again.
  for (let i = 0; i < ids.length; i += 50)
    await Promise.all(ids.slice(i, i + 50).map((id) => call("POST", `/v1/executions/${id}/events`, { name: "go" })));
  let done = 0;
  let rerun = 0;
  for (const id of ids) {
    for (let t = 0; ; t++) {
      const view = await (
        await fetch(`${base}/v1/executions/${id}`, { headers: { authorization: `Bearer ${key}` } })
      ).json();
      if (view.status === "succeeded" && view.version === 2) {
        done++;
        rerun += view.nodes.filter((n) => n.node_id === "order" && n.attempts !== 1).length;
        break;
      }
      if (t > 6000) throw new Error(`${id} did not finish on v2: ${view.status} v${view.version}`);
      await new Promise((r) => setTimeout(r, 50));
    }
  }
  const perSec = N / (moveMs / 1000);
  console.log(
    `\nMigrations: ${N} parked runs, dry run ${fmt(dry.ms, 0)} ms (${dry.movable} movable), move ${fmt(moveMs, 0)} ms ` +
      `(${fmt(perSec, 0)} migrations/s, ${moved.moved} moved), ${done} finished on v2, ${rerun} completed nodes run again; ` +
      `v3 without a completed node: ${refused.blocked} of ${refused.total} refused` +
      (refused.blocked < refused.total ? " (the rest queued, never ran)" : ""),
  );
  return {
    rows: [
      `| migrations (${N} runs parked at a wait, over HTTP) | figure |`,
      "| --- | ---: |",
      `| dry run, ms | ${fmt(dry.ms, 0)} |`,
      `| move, ms (migrations/s) | ${fmt(moveMs, 0)} (${fmt(perSec, 0)}/s) |`,
      `| finished on v2 / completed nodes run again | ${done} / ${rerun} |`,
      `| v3 dropping a completed node: refused | ${refused.blocked} of ${refused.total} |`,
    ],
    summary: `Migrations: ${fmt(perSec, 0)} per second (${N} parked runs moved in ${fmt(moveMs, 0)} ms), all finished on v2 with ${rerun} completed nodes run again; ${refused.blocked} of ${refused.total} refused a v3 that drops a completed node.`,
  };
}
