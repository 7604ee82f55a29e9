// An agent node's transcript as its output records it, read defensively: the dashboard shows what is there and
// nothing it has to guess.

export interface AgentCall {
  id: string;
  name: string;
  input: unknown;
  status: "ok" | "error" | "invalid" | "denied";
  output?: unknown;
  error?: { code: string; message: string };
  reason?: string;
  by?: unknown;
  attempts?: number;
  latency_ms?: number;
}

export interface AgentTurn {
  turn: number;
  model: string;
  provider: string;
  text: string;
  tool_calls: AgentCall[];
  usage: { input_tokens: number; output_tokens: number };
  cost_usd: number;
  latency_ms: number;
}

/** The turns of an agent's output, or null when the output is not an agent transcript. */
export function agentTurns(output: unknown): AgentTurn[] | null {
  const turns = (output as { turns?: unknown } | null)?.turns;
  if (!Array.isArray(turns)) return null;
  return turns.filter(
    (t): t is AgentTurn => !!t && typeof t === "object" && Array.isArray((t as AgentTurn).tool_calls),
  );
}

/** What an agent waits for, from its node.waiting detail: a call to approve, or a question to answer. */
export function pendingStep(
  detail: unknown,
): { kind: "approval" | "ask"; step: string; tool: string; input: unknown } | null {
  const d = detail as Record<
    "approval" | "ask",
    { step?: unknown; tool?: unknown; input?: unknown } | undefined
  > | null;
  for (const kind of ["approval", "ask"] as const) {
    const a = d?.[kind];
    if (a && typeof a.tool === "string" && typeof a.step === "string")
      return { kind, step: a.step, tool: a.tool, input: a.input ?? null };
  }
  return null;
}
