// Fails when src/db/schema.ts and migrations/ disagree: drizzle-kit generate must have nothing to write.
import { execFileSync } from "node:child_process";
import { cpSync, mkdirSync, mkdtempSync, readdirSync, rmSync } from "node:fs";
import { relative } from "node:path";

// drizzle-kit prefixes --out with "./" (an absolute path breaks) and exits 0 on errors,
// so the probe lives under the project and success is read from its own verdict.
mkdirSync(".wrangler", { recursive: true });
const probe = mkdtempSync(".wrangler/migrations-probe-");
try {
  cpSync("migrations", `${probe}/migrations`, { recursive: true });
  const count = () => readdirSync(`${probe}/migrations`).filter((f) => f.endsWith(".sql")).length;
  const before = count();
  const out = execFileSync(
    "drizzle-kit",
    [
      "generate",
      "--dialect",
      "sqlite",
      "--schema",
      "src/db/schema.ts",
      "--out",
      relative(".", `${probe}/migrations`),
      "--name",
      "probe",
    ],
    { encoding: "utf8", stdio: ["ignore", "pipe", "pipe"] },
  );
  if (count() !== before || !/No schema changes/i.test(out)) {
    console.error(out);
    console.error(
      "src/db/schema.ts and migrations/ disagree: run `npm run db:generate` and commit the new file in migrations/.",
    );
    process.exitCode = 1;
  } else {
    console.log("migrations: schema.ts and migrations/ agree");
  }
} finally {
  rmSync(probe, { recursive: true, force: true });
}
