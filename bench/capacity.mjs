// The capacity model (docs/capacity.md): what one execution leaves in D1 (rows, and bytes as D1 counts the database
// size), per node and for a map node, and the projection write rate one local D1 sustains, written one batch per
// projection and as ending runs write theirs (grouped by the TenantObject).

const D1_MAX_BYTES = 10 * 1000 ** 3; // Workers Paid: 10 GB per database
const RETENTION_DAYS = 30;

/** Grow the history by `runs` sequential executions of `workflow` and report what each one added. */
async function footprint({ get, runEngine, sleep }, label, runs) {
  const before = await get("/bench/d1-size");
  for (let i = 0; i < runs; i++) await runEngine();
  // settled answers when the run ends; its last projection lands a moment later.
  await sleep(1500);
  const after = await get("/bench/d1-size");
  const rows = Object.fromEntries(Object.keys(after.rows).map((t) => [t, (after.rows[t] - before.rows[t]) / runs]));
  const bytes = (after.bytes - before.bytes) / runs;
  console.log(`  ${label}: ${bytes.toFixed(0)} bytes and ${JSON.stringify(rows)} rows per execution`);
  return { label, bytes, rows };
}

export async function capacity({ get, engine, sleep, fmt }) {
  const runs = 200;
  console.log(`\nCapacity: D1 history per execution (${runs} executions each, sequential)`);
  const ctx = { get, sleep };
  const three = await footprint({ ...ctx, runEngine: engine("chain3") }, "3-node chain", runs);
  const ten = await footprint({ ...ctx, runEngine: engine("chain10") }, "10-node chain", runs);
  const map = await footprint({ ...ctx, runEngine: engine("map20") }, "1 map node of 20 items", runs);
  const out = await footprint({ ...ctx, runEngine: engine("chain3out") }, "3-node chain, 2,000-char outputs", runs);
  // Three node outputs and the run's own output (its leaf's): ~8 KB of JSON in all.
  const perOutputKb = (out.bytes - three.bytes) / 8;
  const perNode = (ten.bytes - three.bytes) / 7;
  console.log("\nCapacity: projection writes one D1 sustains (a 3-node execution per write, one batch each)");
  const rates = [];
  for (const c of [1, 10, 50]) {
    const r = await get(`/bench/d1-write?n=1000&c=${c}&nodes=3`);
    console.log(`  ${c} at a time: ${fmt(r.per_second, 0)} projections/s`);
    rates.push([c, r.per_second]);
  }
  console.log("  final projections through the TenantObject (with the release, group-committed to D1):");
  const grouped = [];
  for (const c of [1, 10, 50]) {
    const r = await get(`/bench/d1-write?n=1000&c=${c}&nodes=3&via=tenant`);
    console.log(`    ${c} at a time: ${fmt(r.per_second, 0)} projections/s`);
    grouped.push([c, r.per_second]);
  }
  const perDay = (bytes) => D1_MAX_BYTES / (bytes * RETENTION_DAYS);
  const rows = [
    "| capacity (one D1, measured locally) | value |",
    "| --- | ---: |",
    `| bytes per 3-node execution | ${fmt(three.bytes, 0)} |`,
    `| bytes per 10-node execution | ${fmt(ten.bytes, 0)} |`,
    `| bytes per extra node | ${fmt(perNode, 0)} |`,
    `| bytes per execution with one 20-item map node | ${fmt(map.bytes, 0)} |`,
    `| bytes per KB of node output (outputs are projected) | ${fmt(perOutputKb, 0)} |`,
    `| rows per 3-node execution | ${Object.values(three.rows).reduce((a, b) => a + b, 0)} |`,
    `| 3-node executions a day at ${RETENTION_DAYS}-day retention under 10 GB | ${fmt(perDay(three.bytes), 0)} |`,
    `| 10-node executions a day at ${RETENTION_DAYS}-day retention under 10 GB | ${fmt(perDay(ten.bytes), 0)} |`,
    ...rates.map(([c, r]) => `| projection writes/s, ${c} concurrent | ${fmt(r, 0)} |`),
    ...grouped.map(
      ([c, r]) => `| final projections/s through the TenantObject's group commit, ${c} concurrent | ${fmt(r, 0)} |`,
    ),
  ];
  return { rows, three, ten, map, out, perNode, perOutputKb, rates, grouped };
}
