// Approvals as GET /v1/approvals answers them, and the approval an approval node waits on (its node.waiting detail).

export interface ApprovalDecision {
  approver: string;
  decision: "approve" | "reject";
  data: unknown;
  comment: string | null;
  decided_at: string;
  via: string;
}

export interface Approval {
  id: string;
  status: "pending" | "approved" | "rejected" | "timed_out" | "cancelled";
  title: string;
  message: string | null;
  execution_id: string;
  node_id: string;
  approvers: string[];
  quorum: number;
  form: Record<string, unknown> | null;
  expires_at: string | null;
  created_at: string;
  decided_at: string | null;
  decisions: ApprovalDecision[];
}

/** The approval id an approval node's wait names, or null. */
export function waitingApproval(detail: unknown): string | null {
  const a = detail && typeof detail === "object" ? Reflect.get(detail, "approval") : null;
  const id = a && typeof a === "object" ? Reflect.get(a, "id") : null;
  return typeof id === "string" ? id : null;
}

/** Approvers who have not decided yet: whom the dashboard may decide as. */
export function undecided(a: Approval): string[] {
  const done = new Set(a.decisions.map((d) => d.approver));
  return a.approvers.filter((who) => !done.has(who));
}
