import { existsSync, readFileSync } from "node:fs";
import { describe, expect, it } from "vitest";

const readme = readFileSync("README.md", "utf8");

describe("README", () => {
  it("links only to files inside the repository, and each one exists", () => {
    const links = [...readme.matchAll(/\]\(([^)]+)\)/g)]
      .map((m) => m[1] as string)
      .filter((l) => !/^(https?:|#|mailto:)/.test(l));
    for (const link of links) {
      expect(link, "a link out of the repository").not.toMatch(/^\.\.\//);
      expect(existsSync(link.split("#")[0] as string), `${link} exists`).toBe(true);
    }
    expect(readme).not.toMatch(/`\.\.\/[^`]+`/);
  });

  it("names every npm script it tells people to run, and each exists in package.json", () => {
    const scripts = Object.keys(JSON.parse(readFileSync("package.json", "utf8")).scripts as Record<string, string>);
    const used = new Set([...readme.matchAll(/npm run ([\w:-]+)/g)].map((m) => m[1] as string));
    expect(used.size).toBeGreaterThan(5);
    for (const name of used) expect(scripts, `npm run ${name}`).toContain(name);
  });
});
