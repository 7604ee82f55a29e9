// Where `edgeflow login` keeps the base URL and key: $EDGEFLOW_CONFIG_DIR, else $XDG_CONFIG_HOME/edgeflow, else
// ~/.config/edgeflow; the file is mode 600 in a mode 700 folder. EDGEFLOW_URL and EDGEFLOW_API_KEY override it
// (CI pipelines pass secrets as environment variables).
import { chmodSync, existsSync, mkdirSync, readFileSync, writeFileSync } from "node:fs";
import { homedir } from "node:os";
import { join } from "node:path";

export function configDir() {
  if (process.env.EDGEFLOW_CONFIG_DIR) return process.env.EDGEFLOW_CONFIG_DIR;
  return join(process.env.XDG_CONFIG_HOME || join(homedir(), ".config"), "edgeflow");
}

export const configFile = () => join(configDir(), "config.json");

export function readConfig() {
  const file = configFile();
  const saved = existsSync(file) ? JSON.parse(readFileSync(file, "utf8")) : {};
  return {
    url: process.env.EDGEFLOW_URL || saved.url || null,
    key: process.env.EDGEFLOW_API_KEY || saved.key || null,
  };
}

export function writeConfig(config) {
  const dir = configDir();
  mkdirSync(dir, { recursive: true, mode: 0o700 });
  const file = configFile();
  writeFileSync(file, `${JSON.stringify(config, null, 2)}\n`, { mode: 0o600 });
  // writeFileSync keeps an existing file's mode; a key must never be readable by other users.
  chmodSync(file, 0o600);
  return file;
}
