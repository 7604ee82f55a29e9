// The text llm nodes are streaming, from the node.delta events of the log: each puts its text at its offset in the
// answer (0 restarts it: an attempt run again after a crash), and only a node's latest attempt counts.
import type { EventEnvelope } from "./types";

export type Streams = Readonly<Record<string, { attempt: number; text: string }>>;

export function withDelta(streams: Streams, e: EventEnvelope): Streams {
  const { text, offset } = e.data as { text?: unknown; offset?: unknown };
  if (e.type !== "node.delta" || !e.node_id || typeof text !== "string" || typeof offset !== "number") return streams;
  const attempt = e.attempt ?? 0;
  const now = streams[e.node_id];
  if (now && now.attempt > attempt) return streams;
  const before = now && now.attempt === attempt ? now.text.slice(0, offset) : "";
  return { ...streams, [e.node_id]: { attempt, text: before + text } };
}
