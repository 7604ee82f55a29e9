// The fixed cost of one execution (issue: short workflows against Cloudflare Workflows, and under concurrency):
// one-node and ten-node runs, 10 and 100 concurrent ten-node chains on both sides, 1,000 concurrent three-node chains.

/**
 * Run `n` at once; completion times, executions/s and errors (a failed run is counted, not thrown). A completion
 * time is the client's, from the moment all `n` were sent: the time a run reports from inside the Worker starts only
 * once workerd has let its request in, and so leaves out however long the burst waited at the door.
 */
async function concurrently(n, run, quantile) {
  const t0 = performance.now();
  let errors = 0;
  const done = () => performance.now() - t0;
  const each = (await Promise.all(Array.from({ length: n }, () => run().then(done, () => (errors++, null))))).filter(
    (x) => x !== null,
  );
  const wall = performance.now() - t0;
  return { perSec: n / (wall / 1000), p50: quantile(each, 0.5), p99: quantile(each, 0.99), errors };
}

/**
 * Measure the scenarios; returns rows for RESULTS.md (edgeflow, Workflows-local, ratio) and one summary line.
 * `engine(name)` and `workflows(shape, n)` start one run each, resolving with its time in ms; `engineBatch(n)` and
 * `workflowsBatch(n, steps)` start n 3-node runs at once and resolve when all settled.
 */
export async function fixedCost({
  measure,
  engine,
  workflows,
  engineBatch,
  workflowsBatch,
  quantile,
  fmt,
  iterations,
}) {
  console.log("\nFixed cost: a 1-node run, start to settled (200 runs a side)");
  const one = await measure("edgeflow (POST, then a settled call)", engine("chain1"), 200);
  const oneWait = await measure("edgeflow (POST with Prefer: wait)", engine("chain1", true), 200);
  const oneWf = await measure("workflows (one step.do)", workflows("chain", 1), 200);
  console.log("\nA 10-node chain, start to settled");
  const ten = await measure("edgeflow (POST, then a settled call)", engine("chain10"), iterations * 2);
  const tenWait = await measure("edgeflow (POST with Prefer: wait)", engine("chain10", true), iterations * 2);
  const tenWf = await measure("workflows (10 step.do)", workflows("chain", 10), iterations * 2);
  const conc = [];
  for (const n of [10, 100]) {
    console.log(`\n${n} concurrent 10-node chains`);
    const ours = await concurrently(n, engine("chain10"), quantile);
    const oursWait = await concurrently(n, engine("chain10", true), quantile);
    const theirs = await concurrently(n, workflows("chain", 10), quantile);
    for (const [label, r] of [
      ["edgeflow (POST, then a settled call)", ours],
      ["edgeflow (POST with Prefer: wait)", oursWait],
      ["workflows", theirs],
    ])
      console.log(
        `  ${label}: ${fmt(r.perSec, 1)} exec/s, p50 ${fmt(r.p50, 0)} ms, p99 ${fmt(r.p99, 0)} ms, errors ${r.errors}`,
      );
    conc.push([n, ours, oursWait, theirs]);
  }
  console.log("\nA batch of 1,000 3-node executions, one request to all settled (3 batches a side)");
  const batch = await measure("edgeflow (POST .../executions/batch)", engineBatch(1000), 3, 1);
  const batchWf = await measure("workflows (createBatch, 10 x 100)", workflowsBatch(1000, 3), 3, 1);
  console.log("\n1,000 concurrent 3-node chains (edgeflow)");
  const thousand = await concurrently(1000, engine("chain3"), quantile);
  console.log(`  ${fmt(thousand.perSec, 1)} exec/s, p99 ${fmt(thousand.p99, 0)} ms, errors ${thousand.errors}`);

  const row = (name, ours, theirs, d = 2) =>
    `| ${name} | ${fmt(ours, d)} | ${fmt(theirs, d)} | ${fmt(ours / theirs, 2)} |`;
  // Each Edgeflow figure both ways: a POST then a settled call, and one POST with Prefer: wait.
  const twoWays = (what, unit, plain, waited, theirs, d = 2) => [
    row(`${what}: ${unit}`, plain, theirs, d),
    row(`${what} (Prefer: wait): ${unit}`, waited, theirs, d),
  ];
  const rows = [
    "| fixed cost | edgeflow | workflows (local) | edgeflow / workflows |",
    "| --- | ---: | ---: | ---: |",
    ...twoWays("1-node run, start to settled", "median ms", one.median, oneWait.median, oneWf.median),
    ...twoWays("1-node run", "workerd CPU ms", one.cpu, oneWait.cpu, oneWf.cpu),
    ...twoWays("10-node chain", "median ms", ten.median, tenWait.median, tenWf.median),
    ...twoWays("10-node chain", "workerd CPU ms", ten.cpu, tenWait.cpu, tenWf.cpu),
    ...conc.flatMap(([n, o, w, t]) => [
      ...twoWays(`${n} concurrent 10-node chains`, "executions/s", o.perSec, w.perSec, t.perSec, 1),
      ...twoWays(`${n} concurrent 10-node chains`, "p99 completion ms", o.p99, w.p99, t.p99, 0),
    ]),
    row(
      "batch of 1,000 3-node executions: executions/s",
      1000 / (batch.median / 1000),
      1000 / (batchWf.median / 1000),
      1,
    ),
    `| 1,000 concurrent 3-node chains | ${fmt(thousand.perSec, 1)} exec/s, p99 ${fmt(thousand.p99, 0)} ms, ${thousand.errors} errors | - | - |`,
  ];
  const [, conc100, conc100Wait, conc100Wf] = conc[1];
  const summary = `Fixed cost: a 1-node run is ${fmt(oneWait.median / oneWf.median, 2)}x Workflows-local's time with Prefer: wait, ${fmt(one.median / oneWf.median, 2)}x as POST then a settled call (target <= 1x); a 10-node chain ${fmt(tenWf.median / tenWait.median, 2)}x and ${fmt(tenWf.median / ten.median, 2)}x faster (target >= 2x); 100 concurrent chains ${fmt(conc100Wait.perSec / conc100Wf.perSec, 2)}x and ${fmt(conc100.perSec / conc100Wf.perSec, 2)}x its executions/s (target >= 3x); a batch of 1,000 ${fmt(batchWf.median / batch.median, 2)}x createBatch's executions/s (target >= 5x); 1,000 concurrent 3-node chains: ${thousand.errors} errors.`;
  return { rows, summary };
}
