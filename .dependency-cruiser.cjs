// Import boundaries for src/ (npm run check:imports, part of npm test). dependency-cruiser over madge: one config
// checks cycles (type-only imports included) and path rules, and names the rule a change breaks.
/** @type {import('dependency-cruiser').IConfiguration} */
module.exports = {
  forbidden: [
    {
      name: "no-circular",
      severity: "error",
      comment: "No import cycles in src/, type-only imports included.",
      from: { path: "^src/" },
      to: { circular: true },
    },
    {
      name: "engine-is-pure",
      severity: "error",
      comment: "src/engine decides and never performs I/O: it imports only itself, src/lib and npm packages.",
      from: { path: "^src/engine/" },
      to: { path: "^src/", pathNot: ["^src/engine/", "^src/lib/"] },
    },
    {
      name: "engine-has-no-platform-imports",
      severity: "error",
      comment: "src/engine runs in plain Node (the unit tests): no cloudflare:* modules.",
      from: { path: "^src/engine/" },
      to: { path: "^cloudflare:" },
    },
    {
      name: "executors-see-only-services",
      severity: "error",
      comment: "src/nodes reach the outside world through RunServices, not the runtime's own modules.",
      from: { path: "^src/nodes/" },
      to: { path: "^src/(durable|routes|cron|middleware)/" },
    },
    {
      name: "middleware-never-imports-routes",
      severity: "error",
      from: { path: "^src/middleware/" },
      to: { path: "^src/routes/" },
    },
  ],
  options: {
    doNotFollow: { path: "node_modules" },
    exclude: { path: "src/worker-configuration\\.d\\.ts$" },
    tsPreCompilationDeps: true,
    tsConfig: { fileName: "tsconfig.json" },
    enhancedResolveOptions: { exportsFields: ["exports"], conditionNames: ["import", "require", "node", "default"] },
  },
};
