// Positions for a definition's graph: dagre's layered layout, top to bottom in the order `needs` runs.
import dagre from "@dagrejs/dagre";

export const NODE_WIDTH = 190;
export const NODE_HEIGHT = 64;

export interface Positioned {
  id: string;
  x: number;
  y: number;
}

export function layout(nodes: readonly { id: string; needs?: string[] | undefined }[]): Map<string, Positioned> {
  const g = new dagre.graphlib.Graph();
  // network-simplex (dagre's default) makes the tidiest small graphs but grows superlinearly; past a few hundred
  // nodes longest-path keeps the first render of a large definition well under a second.
  g.setGraph({
    rankdir: "TB",
    nodesep: 24,
    ranksep: 48,
    ranker: nodes.length > 300 ? "longest-path" : "network-simplex",
  });
  g.setDefaultEdgeLabel(() => ({}));
  const ids = new Set(nodes.map((n) => n.id));
  for (const n of nodes) g.setNode(n.id, { width: NODE_WIDTH, height: NODE_HEIGHT });
  for (const n of nodes) for (const need of n.needs ?? []) if (ids.has(need)) g.setEdge(need, n.id);
  dagre.layout(g);
  const out = new Map<string, Positioned>();
  for (const n of nodes) {
    const p = g.node(n.id);
    // dagre gives centres; React Flow places nodes by their top-left corner.
    out.set(n.id, { id: n.id, x: p.x - NODE_WIDTH / 2, y: p.y - NODE_HEIGHT / 2 });
  }
  return out;
}
