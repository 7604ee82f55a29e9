import { fileURLToPath } from "node:url";
import { defineConfig } from "vite";

// Built by scripts/build-dashboard.mjs into dist/dashboard, which wrangler.toml serves as Workers Static Assets.
export default defineConfig({
  root: fileURLToPath(new URL(".", import.meta.url)),
  base: "/",
  // No inline <script> for module preloading: the CSP allows scripts from 'self' only.
  build: {
    modulePreload: { polyfill: false },
    assetsInlineLimit: 0,
    chunkSizeWarningLimit: 1024,
    rolldownOptions: {
      // React Flow marks itself "use client" for server-component bundlers; a browser-only bundle can ignore it.
      onLog(level, log, handler) {
        if (log.code !== "MODULE_LEVEL_DIRECTIVE") handler(level, log);
      },
    },
  },
  oxc: { jsx: { runtime: "automatic", development: false } },
});
