// The event protocol, declared once: every event type with the data it carries. The reducer emits through it
// (typed), /openapi.json and /schemas/events.json publish it, and the tests hold every event they read to it.
// Data objects are open (`loose`): a field may be added without breaking a client; none may go missing.
import { z } from "zod";

const time = z.string().describe("ISO 8601");
const nullableTime = time.nullable();
const attemptError = z.object({
  code: z.string(),
  message: z.string(),
  retryable: z.boolean(),
  retry_after_ms: z.number().optional(),
  /** Nothing was attempted: the call waits its turn (a provider window is full); not counted as an attempt. */
  deferred: z.boolean().optional(),
});
/** A map node's item counts. */
const items = z.record(z.string(), z.number()).optional();

const data = <T extends z.ZodRawShape>(shape: T) => z.object(shape).loose();
/** How a run ended badly: its code and message (a node's own error is on that node's node.failed). */
const runError = z.object({ code: z.string(), message: z.string() });
const executionEnd = data({ error: runError.optional(), output: z.unknown().optional() });

/** The data of each event type. */
export const EVENT_DATA = {
  "execution.queued": data({
    workflow_id: z.string(),
    version: z.number().int(),
    concurrency_key: z.string().nullable(),
    /** A fork: the execution it was forked from, and the node it was forked at. */
    forked_from: z.string().optional(),
    fork_node: z.string().optional(),
  }),
  "execution.started": data({}),
  "execution.succeeded": executionEnd,
  "execution.failed": executionEnd,
  "execution.cancelled": executionEnd,
  "execution.timed_out": executionEnd,
  "execution.paused": data({}),
  "execution.resumed": data({}),
  "execution.redriven": data({
    from_node: z.string().nullable(),
    reset: z.array(z.string()),
    input_patched: z.boolean(),
  }),
  /** Moved to another version of its workflow: nodes renamed (old → new), added (pending) and removed (never run). */
  "execution.migrated": data({
    from_version: z.number().int(),
    to_version: z.number().int(),
    renamed: z.record(z.string(), z.string()),
    added: z.array(z.string()),
    removed: z.array(z.string()),
  }),
  "node.started": data({ kind: z.string() }),
  "node.retrying": data({ error: attemptError, delay_ms: z.number(), next_attempt_at: nullableTime }),
  /**
   * In a fork: `reused_from` the execution whose recorded output this is (kept, a reused model answer, or a mocked
   * side effect), `mocked` the node acts on the world and was not run, `patched` the output is the fork's patch.
   */
  "node.succeeded": data({
    output: z.unknown(),
    items,
    reused_from: z.string().optional(),
    mocked: z.boolean().optional(),
    patched: z.boolean().optional(),
  }),
  "node.failed": data({ error: attemptError, reason: z.string(), items }),
  "node.skipped": data({ reason: z.string(), detail: z.string() }),
  /** `event`: the event it waits for; `child`: the child execution a workflow node waits on; `detail`: an agent's ask. */
  "node.waiting": data({
    until: nullableTime,
    event: z.string().nullable(),
    child: z.object({ execution_id: z.string() }).optional(),
    detail: z.record(z.string(), z.unknown()).optional(),
    items,
  }),
  "node.cancelled": data({ reason: z.string() }),
  /** A map's item counts as they move, or a wait that ended (`reason: resumed`, `wake`: what ended it). */
  "node.progress": data({ reason: z.string().optional(), items, wake: z.string().optional() }),
  /** A piece of a streamed answer, to go at `offset` of it (0 restarts it). */
  "node.delta": data({ text: z.string(), offset: z.number().int().min(0) }),
  "event.received": data({ name: z.string(), payload: z.unknown() }),
} as const;

export type EventTypeName = keyof typeof EVENT_DATA;
/** What an emitter must give for each type. */
export type EventData<T extends EventTypeName> = z.input<(typeof EVENT_DATA)[T]>;

const envelope = <T extends EventTypeName>(type: T) =>
  z.object({
    seq: z.number().int().min(1),
    type: z.literal(type),
    execution_id: z.string(),
    node_id: z.string().optional(),
    attempt: z.number().int().optional(),
    at: time,
    data: EVENT_DATA[type],
  });

/** One event as every transport carries it (SSE, WebSocket, GET …/events): `seq` per execution, gapless. */
export const eventSchema = z.discriminatedUnion(
  "type",
  (Object.keys(EVENT_DATA) as EventTypeName[]).map((t) => envelope(t)) as unknown as [
    ReturnType<typeof envelope<EventTypeName>>,
    ...ReturnType<typeof envelope<EventTypeName>>[],
  ],
);
export type ProtocolEvent = z.output<typeof eventSchema>;

/** /schemas/events.json: the protocol as JSON Schema 2020-12 (what a client in another language generates from). */
export function eventsJsonSchema(): Record<string, unknown> {
  return {
    ...(z.toJSONSchema(eventSchema, { io: "output", unrepresentable: "any", target: "draft-2020-12" }) as Record<
      string,
      unknown
    >),
    $id: "/schemas/events.json",
    title: "Edgeflow execution event",
  };
}
