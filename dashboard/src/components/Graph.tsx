// The definition's DAG, laid out once per definition, coloured by each node's status in the run state shown.
import { memo, useEffect, useMemo } from "react";
import {
  Background,
  Controls,
  Handle,
  Position,
  ReactFlow,
  useNodesState,
  type Edge,
  type Node,
  type NodeProps,
  type NodeMouseHandler,
} from "@xyflow/react";
import { layout } from "../model/layout";
import type { NodeState } from "../model/replay";
import type { DefinitionNode } from "../model/types";
import { ItemsBar } from "./ItemsBar";

export interface StepData extends Record<string, unknown> {
  id: string;
  kind: string;
  status: string;
  attempts: number;
  items: Record<string, number> | null;
  child: string | null;
  /** What it waits for, or when it tries again. */
  detail: string | null;
  selected: boolean;
}
type StepNode = Node<StepData, "step">;

const StepView = memo(function StepView({ data }: NodeProps<StepNode>) {
  return (
    <div
      className={`step status-${data.status}${data.selected ? " selected" : ""}`}
      data-node={data.id}
      data-status={data.status}
    >
      <Handle type="target" position={Position.Top} isConnectable={false} />
      <div className="step-head">
        <span className="step-id">{data.id}</span>
        <span className="step-kind">{data.kind}</span>
      </div>
      <div className="step-status">
        {data.status === "definition" ? "" : data.status}
        {data.attempts > 1 ? ` · attempt ${data.attempts}` : ""}
        {data.child ? " · child run" : ""}
      </div>
      {data.detail && <div className="step-detail">{data.detail}</div>}
      {data.items && <ItemsBar items={data.items} compact />}
      <Handle type="source" position={Position.Bottom} isConnectable={false} />
    </div>
  );
});

const nodeTypes = { step: StepView };
const clock = (iso: string) => new Date(iso).toLocaleTimeString(undefined, { hour12: false });

function detailOf(s: NodeState): string | null {
  if (s.status === "retrying" && s.next_attempt_at) return `next attempt ${clock(s.next_attempt_at)}`;
  if (s.status !== "waiting" || !s.waiting_for) return null;
  const { event, until } = s.waiting_for;
  if (s.child) return "waiting for its child run";
  if (event) return `waiting for "${event}"`;
  return until ? `until ${clock(until)}` : null;
}
const ACTIVE = new Set(["running", "retrying", "waiting"]);

export function Graph(props: {
  definition: readonly DefinitionNode[];
  states?: Record<string, NodeState> | undefined;
  children?: Record<string, string> | undefined;
  selected?: string | null;
  onSelect?: (id: string) => void;
}) {
  const { definition, states, children, selected, onSelect } = props;
  const positions = useMemo(() => layout(definition), [definition]);
  const build = (prev: readonly StepNode[]): StepNode[] => {
    const before = new Map(prev.map((n) => [n.id, n]));
    return definition.map((n) => {
      const s = states?.[n.id];
      return {
        // Keeps what React Flow measured (`measured`): a node object without it is hidden until measured again.
        ...before.get(n.id),
        id: n.id,
        type: "step",
        position: positions.get(n.id) ?? { x: 0, y: 0 },
        ariaLabel: `${n.id} (${n.kind}): ${s?.status ?? "not run"}`,
        data: {
          id: n.id,
          kind: n.kind,
          status: s?.status ?? "definition",
          attempts: s?.attempts ?? 0,
          items: s?.items ?? null,
          child: children?.[n.id] ?? s?.child ?? null,
          detail: s ? detailOf(s) : null,
          selected: selected === n.id,
        },
      };
    });
  };
  const [nodes, setNodes, onNodesChange] = useNodesState<StepNode>(build([]));
  useEffect(() => setNodes(build), [definition, positions, states, children, selected]);
  const edges: Edge[] = useMemo(
    () =>
      definition.flatMap((n) =>
        (n.needs ?? []).map((need) => {
          // Work flows along an edge whose source is done and whose target is being worked on now.
          const flowing = states?.[need]?.status === "succeeded" && ACTIVE.has(states?.[n.id]?.status ?? "");
          return {
            id: `${need}->${n.id}`,
            source: need,
            target: n.id,
            animated: flowing,
            className: flowing ? "flowing" : "",
          };
        }),
      ),
    [definition, states],
  );
  // A large graph fitted into the box would be unreadable dots: it opens at a readable zoom on its first layers.
  const large = definition.length > 150;
  const viewport = useMemo(() => {
    const xs = [...positions.values()].map((p) => p.x);
    const ys = [...positions.values()].map((p) => p.y);
    const zoom = 0.75;
    return { x: 20 - Math.min(...xs) * zoom, y: 20 - Math.min(...ys) * zoom, zoom };
  }, [positions]);
  const onNodeClick: NodeMouseHandler = (_, node) => onSelect?.(node.id);
  return (
    <div className="graph" data-testid="graph">
      <ReactFlow
        nodes={nodes}
        onNodesChange={onNodesChange}
        edges={edges}
        nodeTypes={nodeTypes}
        onNodeClick={onNodeClick}
        nodesDraggable={false}
        nodesConnectable={false}
        edgesFocusable={false}
        onlyRenderVisibleElements={large}
        fitView={!large}
        defaultViewport={viewport}
        fitViewOptions={{ maxZoom: 1.2, minZoom: 0.05 }}
        minZoom={0.02}
      >
        <Background />
        <Controls showInteractive={false} />
      </ReactFlow>
    </div>
  );
}
