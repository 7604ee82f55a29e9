import type { ExecRecord, NodeRecord } from "../db/execution-store";
import type { ItemRecord } from "../db/map-store";
import { itemNode } from "../engine/map";
import { ExecutionCore, iso } from "./execution-core";
import { deliverToItem, mapConfig, MapRun, type MapOutcome } from "./map-run";
import { runServices } from "./services";

/**
 * The map-node half of the engine: ExecutionCore's drive loop launches, records and wakes map nodes through these;
 * the items themselves are MapRun's (map-run.ts). ExecutionObject (execution.ts) builds on this.
 */
export abstract class ExecutionMaps extends ExecutionCore {
  protected override runMap(node: NodeRecord, attempt: number): Promise<MapOutcome> {
    const exec = this.exec as ExecRecord;
    return new MapRun({
      executionId: exec.id,
      node: this.def(node.id),
      attempt,
      items: this.maps,
      inbox: this.store,
      ctx: this.context(),
      signal: this.runAbort.signal,
      canStart: () => exec.status === "running",
      budget: this.budget,
      services: (a) => runServices(this.env, this.store, exec, node.id, a),
      progress: (counts, reason) => this.emit("node.progress", node, { items: counts, reason }),
      cancelChildren: (ids) => this.cancelChildren(ids, `map node ${node.id} stopped`),
    }).run();
  }

  protected override recordMap(id: string, attempt: number, outcome: MapOutcome): void {
    const node = this.node(id);
    if (node.status !== "running" || node.attempt !== attempt) return;
    if ("done" in outcome) {
      const items = { items: this.maps.counts(id) };
      if (outcome.done.ok) this.succeedNode(node, outcome.done.output, items);
      else this.failNode(node, outcome.done.error, "fatal", items);
    } else if ("park" in outcome) {
      // Nothing can start before a retry falls due or a child execution ends: the alarm or the child wakes it.
      Object.assign(node, { status: "waiting", due_at: outcome.park, wait_event: null });
      this.emit("node.waiting", node, { until: iso(outcome.park), event: null, items: this.maps.counts(id) });
    } else {
      // Out of this invocation's budget (or paused): the next alarm invocation resumes it.
      this.yielded.add(id);
    }
  }

  /** A map item's child execution ended: record it, and wake its map node if that was parked. */
  protected childEndedForItem(item: ItemRecord): void {
    const mapNode = this.node(item.node_id);
    if (mapNode.status !== "running" && mapNode.status !== "waiting") return;
    deliverToItem(this.maps, this.store, itemNode(this.def(item.node_id), mapConfig(this.def(item.node_id))), item);
    if (mapNode.status === "waiting") this.unparkMap(mapNode);
  }

  protected override unparkMap(node: NodeRecord): void {
    Object.assign(node, { status: "running", due_at: null });
    this.emit("node.progress", node, { items: this.maps.counts(node.id), reason: "resumed" });
  }
}
