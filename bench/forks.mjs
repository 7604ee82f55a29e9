// Forks (issue: fork a run at any node): from the POST that forks a finished 50-node chain at its 48th node (output
// patched) to the fork's first node.started on its SSE stream, over real sockets from the harness, beside the same
// for a fresh start of the same workflow. A fork first writes its kept nodes (47 node.succeeded events), so the
// difference is what keeping costs against running from the top.

/** ms from `post()` being sent to the first node.started event of the execution it answers. */
async function toFirstStarted(base, key, post) {
  const t = performance.now();
  const { id } = await post();
  const res = await fetch(`${base}/v1/executions/${id}/stream`, {
    headers: { authorization: `Bearer ${key}`, accept: "text/event-stream" },
  });
  if (!res.ok) throw new Error(`stream ${id}: ${res.status}`);
  const reader = res.body.getReader();
  const decoder = new TextDecoder();
  let text = "";
  for (;;) {
    const { value, done } = await reader.read();
    if (done) throw new Error(`stream of ${id} ended without node.started`);
    text += decoder.decode(value, { stream: true });
    if (text.includes(`"type":"node.started"`)) break;
  }
  const ms = performance.now() - t;
  await reader.cancel();
  return ms;
}

export async function forks({ base, key, api, measure, fmt, iterations }) {
  const nodes = Array.from({ length: 50 }, (_, i) => ({
    id: `s${i + 1}`,
    kind: "transform",
    ...(i ? { needs: [`s${i}`] } : {}),
    config: { expression: i ? `nodes.s${i}.output + 1` : "0" },
  }));
  const wf = (await api("POST", "/v1/workflows", key, { name: "bench-fork", nodes })).id;
  const started = async () => api("POST", `/v1/workflows/${wf}/executions`, key, { input: {} });
  const source = (await started()).id;
  for (let i = 0; i < 200; i++) {
    const view = await (
      await fetch(`${base}/v1/executions/${source}`, { headers: { authorization: `Bearer ${key}` } })
    ).json();
    if (view.status === "succeeded") break;
    await new Promise((r) => setTimeout(r, 50));
  }
  let n = 0;
  const fork = () => api("POST", `/v1/executions/${source}/forks`, key, { from_node: "s48", output_patch: n++ });
  console.log("\nFork a finished 50-node chain at node 48 (patched) to its first node.started, over SSE");
  const forked = await measure("fork (47 nodes kept)", () => toFirstStarted(base, key, fork), iterations);
  const fresh = await measure("fresh start of the same workflow", () => toFirstStarted(base, key, started), iterations);
  const rows = [
    "| POST to the first node.started (SSE, harness wall) | p50 ms | p99 ms |",
    "| --- | ---: | ---: |",
    `| fork of a 50-node run at node 48 | ${fmt(forked.median, 1)} | ${fmt(forked.p99, 1)} |`,
    `| fresh start of the same 50-node workflow | ${fmt(fresh.median, 1)} | ${fmt(fresh.p99, 1)} |`,
  ];
  return {
    rows,
    summary: `Fork to first node.started: p50 ${fmt(forked.median, 1)} ms against ${fmt(fresh.median, 1)} ms for a fresh start (${fmt(forked.median / fresh.median, 2)}x).`,
  };
}
