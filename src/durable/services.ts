import { openDb } from "../db/client";
import type { ExecRecord, ExecutionStore } from "../db/execution-store";
import { getBudget, getSecrets } from "../db/repo";
import { open, SecretsUnconfigured } from "../lib/secret-box";
import { sendMail } from "../lib/send-mail";
import { EmailUnconfigured } from "../lib/email";
import { openApproval } from "../services/approvals";
import { ApprovalUnconfigured } from "../services/approval-notices";
import { childTraceparent, traceIdFrom } from "../lib/trace";
import { config } from "../env";
import type { RunServices } from "../nodes/types";
import { registerMonitor } from "../services/monitors";
import { startExecution } from "../services/start";
import { connectionToken } from "../services/connections";
import { breakerStub, tenantStub } from "./client";

const monthOf = (ms: number) => new Date(ms).toISOString().slice(0, 7);
// A reservation whose call never settles (its object crashed) lapses after this: longer than any LLM attempt.
const RESERVATION_TTL_MS = 10 * 60_000;

/**
 * What an executor may use beyond its config: bindings, and the tenant's LLM ledger and budget. Usage goes to the
 * execution's own storage first (and reaches D1 with the next projection), so a call is never lost from the ledger.
 */
export function runServices(
  env: Env,
  store: ExecutionStore,
  exec: ExecRecord,
  nodeId: string,
  attempt: number,
  onDelta: (text: string, offset: number) => void = () => undefined,
): RunServices {
  const db = () => openDb(env.DB).db;
  return {
    env,
    tenantId: exec.tenant_id,
    executionId: exec.id,
    nodeId,
    delta: onDelta,
    steps: (scope) => ({
      get: (key) => store.stepValue(scope, key),
      put: (key, value) => store.recordStep(scope, key, value, Date.now()),
    }),
    recordUsage: (u) => {
      const at = Date.now();
      store.addUsage({
        ...u,
        id: `${exec.id}:${nodeId}:${attempt}:${crypto.randomUUID()}`,
        tenant_id: exec.tenant_id,
        workflow_id: exec.workflow_id,
        execution_id: exec.id,
        node_id: nodeId,
        attempt,
        month: monthOf(at),
        at,
      });
      if (exec.flush_due_at === null) exec.flush_due_at = at + config(env).PROJECTION_FLUSH_MS;
      store.saveExecution(exec);
    },
    reserveBudget: async (amount) => {
      const budget = await getBudget(db(), exec.tenant_id);
      if (budget === null) return { ok: true, id: null };
      if (budget <= 0) return { ok: false, spent: 0, reserved: 0, budget };
      const id = `${exec.id}:${nodeId}:${attempt}:${crypto.randomUUID()}`;
      const r = await tenantStub(env, exec.tenant_id).reserveLlm(
        exec.tenant_id,
        exec.history_shard,
        id,
        monthOf(Date.now()),
        amount,
        budget,
        RESERVATION_TTL_MS,
      );
      return r.ok ? { ok: true, id } : { ok: false, spent: r.spent, reserved: r.reserved, budget };
    },
    settleBudget: async (id, cost) => {
      await tenantStub(env, exec.tenant_id).settleLlm(id, cost);
    },
    sendMail: (mail) => sendMail(env, mail),
    openApproval: async (req) => {
      const ids = { tenantId: exec.tenant_id, executionId: exec.id, workflowId: exec.workflow_id, nodeId };
      try {
        return { ok: true, id: (await openApproval(env, db(), { ...req, ...ids })).id };
      } catch (err) {
        const lasting = err instanceof ApprovalUnconfigured || err instanceof EmailUnconfigured;
        if (!lasting && !(err instanceof SecretsUnconfigured)) throw err;
        return { ok: false, code: "approval_unconfigured", message: err.message };
      }
    },
    connectionToken: (name, rejected) => connectionToken(env, db(), exec.tenant_id, name, rejected),
    traceparent: () => childTraceparent(exec.trace_id ?? traceIdFrom(null)),
    lane: exec.lane,
    breaker: (provider) => {
      const stub = breakerStub(env, provider);
      // The run's tenant rides on every window ask: tenants share a provider window by weight.
      return {
        allow: (cfg) => stub.allow(cfg),
        record: (ok, cfg) => stub.record(ok, cfg),
        takeCall: (bucket, limit, windowMs, tokens, lane) =>
          stub.takeCall(bucket, limit, windowMs, tokens, lane, exec.tenant_id),
      };
    },
    startChild: async (req) => {
      const started = await startExecution(env, db(), {
        tenantId: exec.tenant_id,
        workflowId: req.workflowId,
        version: req.version,
        input: req.input,
        timeoutSeconds: req.timeoutSeconds,
        idempotencyKey: `child:${req.key}`,
        // A child waits in its parent's lane: a chat turn's sub-workflow is as interactive as the turn.
        lane: exec.lane,
        requestForHash: { parent_attempt: req.key },
        parent: { execution_id: exec.id, node_id: nodeId },
      });
      return started.ok ? { ok: true, id: started.id } : started;
    },
    createMonitor: async (m, allowDuplicate) => {
      const { now, ...fields } = m;
      const registered = await registerMonitor(
        db(),
        { ...fields, tenant_id: exec.tenant_id, enabled: true },
        now,
        allowDuplicate,
      );
      return registered.ok
        ? { ok: true, id: registered.row.id, next_check_at: registered.row.next_check_at }
        : registered;
    },
    secrets: async (names) => {
      const rows = await getSecrets(db(), exec.tenant_id, names);
      return Object.fromEntries(
        await Promise.all(rows.map(async (r) => [r.name, await open(env, exec.tenant_id, r.name, r)] as const)),
      );
    },
  };
}
