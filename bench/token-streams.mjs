// Scenario 9: streams of tokens. Time to the first token through Edgeflow (POST the execution, open its SSE stream,
// the first node.delta) against a direct streaming call to the same local model server; and the event-log rows a
// streamed answer writes per 1,000 tokens, at a model's pace (100 tokens/s) and at once.

/** Milliseconds from the request to the first text of a direct streaming call. */
async function directFirstToken(model) {
  const t0 = performance.now();
  const res = await fetch(`${model}/v1/chat/completions`, {
    method: "POST",
    headers: { "content-type": "application/json", authorization: "Bearer sk-bench" },
    body: JSON.stringify({
      model: "gpt-4o-mini",
      stream: true,
      messages: [{ role: "user", content: "tokens=200" }],
    }),
  });
  const reader = res.body.pipeThrough(new TextDecoderStream()).getReader();
  let text = "";
  for (;;) {
    const { value, done } = await reader.read();
    if (done) throw new Error("no token came");
    text += value;
    if (/"content":"t0/.test(text)) break;
  }
  const ms = performance.now() - t0;
  await reader.cancel();
  return ms;
}

/** Read an execution's SSE stream; resolves with the time of the first node.delta and every event. */
async function followSse(base, key, id, t0) {
  const res = await fetch(`${base}/v1/executions/${id}/stream`, {
    headers: { authorization: `Bearer ${key}`, accept: "text/event-stream" },
  });
  const reader = res.body.pipeThrough(new TextDecoderStream()).getReader();
  let buffer = "";
  let first = null;
  const events = [];
  for (;;) {
    const { value, done } = await reader.read();
    if (done) return { first, events };
    buffer += value;
    let cut;
    while ((cut = buffer.indexOf("\n\n")) >= 0) {
      const data = buffer
        .slice(0, cut)
        .split("\n")
        .find((l) => l.startsWith("data: "));
      buffer = buffer.slice(cut + 2);
      if (!data) continue;
      const e = JSON.parse(data.slice(6));
      events.push(e);
      if (e.type === "node.delta" && first === null) first = performance.now() - t0;
    }
  }
}

export async function tokenStreams({ base, key, api, model, quantile, fmt, iterations }) {
  const wf = (
    await api("POST", "/v1/workflows", key, {
      name: "streamed",
      input_schema: { type: "object", required: ["ask"], properties: { ask: { type: "string" } } },
      nodes: [
        {
          id: "say",
          kind: "llm",
          config: {
            tier: "mid",
            stream: true,
            max_tokens: 4000,
            messages: [{ role: "user", content: "{{ input.ask }}" }],
          },
        },
      ],
    })
  ).id;
  const run = async (ask) => {
    const t0 = performance.now();
    const started = await api("POST", `/v1/workflows/${wf}/executions`, key, { input: { ask } });
    const r = await followSse(base, key, started.id, t0);
    if (r.first === null)
      throw new Error(`no node.delta: ${JSON.stringify(r.events.map((e) => [e.type, e.data.error ?? ""]))}`);
    return r;
  };
  console.log("\nTokens: time to the first token, direct to the model server and through an llm node (stream: true)");
  for (let i = 0; i < 3; i++) await Promise.all([directFirstToken(model), run("tokens=200")]);
  const direct = [];
  const ours = [];
  for (let i = 0; i < iterations * 2; i++) {
    direct.push(await directFirstToken(model));
    ours.push((await run("tokens=200")).first);
  }
  const ttft = {
    direct: { p50: quantile(direct, 0.5), p99: quantile(direct, 0.99) },
    edgeflow: { p50: quantile(ours, 0.5), p99: quantile(ours, 0.99) },
  };
  console.log(
    `  direct p50 ${fmt(ttft.direct.p50)} ms, p99 ${fmt(ttft.direct.p99)} ms; edgeflow (POST + SSE) p50 ${fmt(ttft.edgeflow.p50)} ms, p99 ${fmt(ttft.edgeflow.p99)} ms`,
  );
  // Rows: each node.delta was one row while the answer streamed; once the attempt ended they are one row.
  const rows = {};
  for (const [label, ask, tokens] of [
    ["at a model's pace (100 tokens/s)", "tokens=300 rate=100", 300],
    ["all at once", "tokens=1000", 1000],
  ]) {
    const { events } = await run(ask);
    const deltas = events.filter((e) => e.type === "node.delta").length;
    rows[label] = (deltas * 1000) / tokens;
    console.log(
      `  ${label}: ${deltas} node.delta rows for ${tokens} tokens, ${fmt(rows[label], 1)} per 1,000, folded to 1`,
    );
  }
  return {
    rows: [
      "| streamed tokens | p50 ms | p99 ms |",
      "| --- | ---: | ---: |",
      `| first token, direct to the model server | ${fmt(ttft.direct.p50)} | ${fmt(ttft.direct.p99)} |`,
      `| first token through Edgeflow (POST + SSE, first node.delta) | ${fmt(ttft.edgeflow.p50)} | ${fmt(ttft.edgeflow.p99)} |`,
      `| added by Edgeflow | ${fmt(ttft.edgeflow.p50 - ttft.direct.p50)} | ${fmt(ttft.edgeflow.p99 - ttft.direct.p99)} |`,
      "",
      "| rows written per 1,000 streamed tokens | while streaming | after the attempt |",
      "| --- | ---: | ---: |",
      ...Object.entries(rows).map(([label, n]) => `| ${label} | ${fmt(n, 1)} | 1 |`),
    ],
    summary: `Tokens: the first token through Edgeflow arrives ${fmt(ttft.edgeflow.p50 - ttft.direct.p50)} ms (p50) after a direct call's; a streamed answer writes ${Object.values(
      rows,
    )
      .map((n) => fmt(n, 1))
      .join(" / ")} log rows per 1,000 tokens (model pace / at once) while it streams and keeps 1.`,
  };
}
