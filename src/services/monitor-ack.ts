// Acknowledgement of a monitor's problem: its alert.acknowledge workflow runs once per problem (down or unreachable),
// and an approval node in it asks people to acknowledge, with reminders and escalation. The monitor keeps the run's
// id until it is up again; then the run is cancelled, which closes its approval's links.
import type { Db } from "../db/client";
import { setAckExecution, type MonitorRow } from "../db/cron-repo";
import { executionStub } from "../durable/client";
import { startExecution } from "./start";

export async function acknowledgement(
  env: Env,
  db: Db,
  m: MonitorRow,
  transition: "down" | "unreachable" | "up",
  alert: Record<string, unknown>,
  workflowId: string | undefined,
  now: number,
): Promise<void> {
  if (transition === "up") {
    if (!m.ack_execution_id) return;
    // Already over (acknowledged, or failed) is fine: cancelling is for a run still asking.
    await executionStub(env, m.ack_execution_id).cancel(m.tenant_id, `monitor ${m.id} is up again`);
    await setAckExecution(db, m.id, m.ack_execution_id, null);
    return;
  }
  // One acknowledgement per problem: going from unreachable to down asks nobody twice.
  if (!workflowId || m.ack_execution_id) return;
  const started = await startExecution(env, db, {
    tenantId: m.tenant_id,
    workflowId,
    input: { monitor: { id: m.id, name: m.name }, alert },
    idempotencyKey: `monitor-ack:${m.id}:${now}`,
    inFlight: "join",
    requestForHash: { monitor: m.id, at: now },
    tags: ["monitor-acknowledgement"],
    metadata: { monitor_id: m.id },
  });
  if (!started.ok) {
    console.error(
      JSON.stringify({
        level: "error",
        msg: "monitor acknowledgement did not start",
        monitor_id: m.id,
        workflow_id: workflowId,
        code: started.code,
        error: started.message,
      }),
    );
    return;
  }
  await setAckExecution(db, m.id, null, started.id);
}
