// npm run keys -- create <tenant> [--name NAME] [--scopes read|write|read,write] [--remote]
//   creates a tenant (if new) and an API key, printed once; keys get read,write unless --scopes says otherwise
// npm run keys -- revoke <key-id> [--remote]
import { createKey, revokeKey } from "./lib/d1.mjs";

const args = process.argv.slice(2);
const remote = args.includes("--remote");
const nameAt = args.indexOf("--name");
const name = nameAt >= 0 ? args[nameAt + 1] : "default";
const scopesAt = args.indexOf("--scopes");
const scopes = scopesAt >= 0 ? args[scopesAt + 1] : "read,write";
const [command, subject] = args.filter((a, i) => !a.startsWith("--") && i !== nameAt + 1 && i !== scopesAt + 1);

try {
  if (command === "create" && subject) {
    const key = await createKey(subject, { remote, name, scopes });
    console.log(`tenant:  ${key.tenantId}\nkey id:  ${key.keyId}\nscopes:  ${scopes}\napi key: ${key.token}\n(shown once; only its hash is stored)`);
  } else if (command === "revoke" && subject) {
    revokeKey(subject, { remote });
    console.log(`revoked ${subject}`);
  } else {
    console.error("usage: npm run keys -- create <tenant> [--name NAME] [--scopes read|write|read,write] [--remote]\n       npm run keys -- revoke <key-id> [--remote]");
    process.exitCode = 2;
  }
} catch (err) {
  console.error(err.stderr?.toString() || err.message);
  process.exitCode = 1;
}
