// Ambient declarations for test-only packages that ship no types.
declare module "parse-prometheus-text-format" {
  /** Metric families as the Prometheus text format defines them. */
  export default function parsePrometheusTextFormat(
    text: string,
  ): { name: string; help: string; type: string; metrics: unknown[] }[];
}
