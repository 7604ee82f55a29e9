// npm run keys -- create <tenant> [--name NAME] [--scopes read|write|read,write] [--rate N] [--remote]
// npm run keys -- list [<tenant>] [--remote]
// npm run keys -- revoke <key-id> [--remote]
// npm run keys -- rate <key-id> <N|default> [--remote]
// npm run keys -- weight <tenant> <1-100> [--remote]
// Exit codes: 0 done, 1 the command failed (message on stderr), 2 usage error.
import { parseArgs } from "node:util";
import { createKey, listKeys, revokeKey, setKeyRate, setWeight } from "./lib/d1.mjs";

const USAGE = `usage: npm run keys -- create <tenant> [--name NAME] [--scopes read|write|read,write] [--rate N] [--remote]
       npm run keys -- list [<tenant>] [--remote]
       npm run keys -- revoke <key-id> [--remote]
       npm run keys -- rate <key-id> <N|default> [--remote]   (requests a minute; default: RATE_LIMIT_PER_MINUTE)
       npm run keys -- weight <tenant> <1-100> [--remote]   (its share of a provider window beside other tenants)`;

let parsed;
try {
  parsed = parseArgs({
    allowPositionals: true,
    options: {
      name: { type: "string", default: "default" },
      scopes: { type: "string", default: "read,write" },
      rate: { type: "string" },
      remote: { type: "boolean", default: false },
      help: { type: "boolean", short: "h", default: false },
    },
  });
} catch (err) {
  usage(err.message);
}
const { values, positionals } = parsed;
const [command, subject, ...rest] = positionals;
// `weight` and `rate` take their value as a second argument.
const [value, ...extra] = command === "weight" || command === "rate" ? rest : [undefined, ...rest];
const where = { remote: values.remote };
if (values.help) {
  console.log(USAGE);
  process.exit(0);
}
if (extra.length) usage(`unexpected argument: ${extra[0]}`);

try {
  if (command === "create" && subject) {
    const key = await createKey(subject, { ...where, name: values.name, scopes: values.scopes, rate: values.rate });
    console.log(
      `tenant:  ${key.tenantId}\nkey id:  ${key.keyId}\nname:    ${values.name}\nscopes:  ${values.scopes}\nrate:    ${rateText(key.rate)}\napi key: ${key.token}\n(shown once; only its hash is stored)`,
    );
  } else if (command === "list") {
    printKeys(listKeys(subject, where));
  } else if (command === "revoke" && subject) {
    const at = revokeKey(subject, where);
    console.log(`revoked ${subject} (at ${new Date(at).toISOString()})`);
  } else if (command === "rate" && subject && value !== undefined) {
    console.log(`${subject}: ${rateText(setKeyRate(subject, value, where))} (from its next request)`);
  } else if (command === "weight" && subject && value !== undefined) {
    console.log(`tenant ten_${subject}: weight ${setWeight(subject, value, where)} (applies within a minute)`);
  } else {
    const needs = {
      create: "a tenant",
      revoke: "a key id",
      rate: "a key id and a rate",
      weight: "a tenant and a weight",
    }[command];
    usage(command ? `"${command}" needs ${needs ?? "to be create, list, revoke, rate or weight"}` : "no command");
  }
} catch (err) {
  console.error(`error: ${(err.stderr?.toString() || err.message).trim()}`);
  process.exitCode = 1;
}

function usage(problem) {
  console.error(`${problem}\n${USAGE}`);
  process.exit(2);
}

/** A key's own rate, or the deployment's (RATE_LIMIT_PER_MINUTE) when it has none. */
function rateText(rate) {
  return rate === null ? "default (RATE_LIMIT_PER_MINUTE)" : `${rate} requests a minute`;
}

function printKeys(rows) {
  if (rows.length === 0) return console.log("no API keys");
  const when = (ms) => (ms === null ? "never" : new Date(ms).toISOString().replace(/\.\d+Z$/, "Z"));
  const table = rows.map((k) => [
    k.id,
    k.tenant_id,
    k.name,
    k.scopes,
    k.rate_limit_per_minute === null ? "default" : `${k.rate_limit_per_minute}/min`,
    when(k.created_at),
    when(k.last_used_at),
    k.revoked_at === null ? "active" : `revoked ${when(k.revoked_at)}`,
  ]);
  const head = ["id", "tenant", "name", "scopes", "rate", "created", "last used", "status"];
  const widths = head.map((h, i) => Math.max(h.length, ...table.map((r) => String(r[i]).length)));
  for (const row of [head, ...table])
    console.log(
      row
        .map((c, i) => String(c).padEnd(widths[i]))
        .join("  ")
        .trimEnd(),
    );
}
