// Request bodies the API reference (/docs) shows for the main routes: each is accepted as it stands (a test sends
// them), so a reader can copy one and change it.
export const EXAMPLES: Record<string, unknown> = {
  "post /v1/workflows": {
    name: "enrich-signup",
    input_schema: { type: "object", properties: { email: { type: "string" } }, required: ["email"] },
    nodes: [
      {
        id: "lookup",
        kind: "http",
        config: { url: "https://api.example.com/people?email={{ input.email }}" },
        retry: { max_attempts: 5, initial_delay_ms: 1000 },
      },
      {
        id: "summarise",
        kind: "llm",
        needs: ["lookup"],
        config: {
          tier: "mid",
          messages: [{ role: "user", content: "Summarise this person for a sales call: {{ nodes.lookup.output }}" }],
        },
      },
      {
        id: "approval",
        kind: "wait_for_event",
        needs: ["summarise"],
        config: { event: "approved", timeout_ms: 86400000 },
      },
      {
        id: "notify",
        kind: "http",
        needs: ["approval"],
        config: {
          url: "https://hooks.example.com/sales",
          method: "POST",
          body: { summary: "{{ nodes.summarise.output.text }}" },
        },
      },
    ],
  },
  "post /v1/workflows/{id}/executions": {
    input: { email: "ada@example.com" },
    tags: ["signup"],
    metadata: { source: "web" },
  },
  "post /v1/executions/{id}/events": { name: "approved", payload: { by: "ops@example.com" } },
  "post /v1/executions/{id}/redrive": { from_node: "notify", input_patch: { email: "ada@example.org" } },
  "post /v1/executions/{id}/forks": { from_node: "draft", output_patch: { text: "A shorter draft." }, effects: "mock" },
  "post /v1/executions/{id}/cancel": { reason: "duplicate signup" },
  "post /v1/workflows/{id}/schedules": {
    cron: "0 9 * * 1-5",
    timezone: "America/New_York",
    input: { email: "digest@example.com" },
  },
  "post /v1/monitors": {
    name: "pricing page",
    check: {
      kind: "http",
      url: "https://www.example.com/pricing",
      expect_status: 200,
      expect: { body_contains: "Pricing" },
    },
    interval_seconds: 300,
    failure_threshold: 3,
    alert: { webhook_url: "https://hooks.example.com/alerts" },
  },
};
