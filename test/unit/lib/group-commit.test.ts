import { describe, expect, it } from "vitest";
import { GroupCommit } from "../../../src/lib/group-commit";

/** A write that records each call and finishes when the test says so. */
function gatedWriter(fails: (items: number[]) => boolean = () => false) {
  const calls: number[][] = [];
  const gates: (() => void)[] = [];
  const write = (items: number[]) => {
    calls.push(items);
    return new Promise<void>((resolve, reject) =>
      gates.push(() => (fails(items) ? reject(new Error(`refused ${items.join(",")}`)) : resolve())),
    );
  };
  const open = async () => {
    while (gates.length) (gates.shift() as () => void)();
    await new Promise((r) => setTimeout(r, 0));
  };
  return { calls, write, open };
}

describe("GroupCommit", () => {
  it("writes an idle submitter at once and groups what arrives while a write is in flight", async () => {
    const w = gatedWriter();
    const g = new GroupCommit(w.write, 10);
    const done: number[] = [];
    const all = [1, 2, 3, 4].map((n) => g.submit(n).then(() => done.push(n)));
    expect(w.calls).toEqual([[1]]);
    await w.open();
    expect(done).toEqual([1]);
    expect(w.calls).toEqual([[1], [2, 3, 4]]);
    await w.open();
    await Promise.all(all);
    expect(done).toEqual([1, 2, 3, 4]);
  });

  it("never puts more than max items in one write, and keeps their order", async () => {
    const w = gatedWriter();
    const g = new GroupCommit(w.write, 2);
    const all = [1, 2, 3, 4, 5, 6].map((n) => g.submit(n));
    for (let i = 0; i < 5; i++) await w.open();
    await Promise.all(all);
    expect(w.calls).toEqual([[1], [2, 3], [4, 5], [6]]);
  });

  it("retries a failed group item by item, so only the item that cannot be written fails", async () => {
    const w = gatedWriter((items) => items.includes(3));
    const g = new GroupCommit(w.write, 10);
    const first = g.submit(1);
    const rest = [2, 3, 4].map((n) =>
      g.submit(n).then(
        () => "written",
        (err: Error) => err.message,
      ),
    );
    for (let i = 0; i < 6; i++) await w.open();
    await first;
    expect(await Promise.all(rest)).toEqual(["written", "refused 3", "written"]);
    expect(w.calls).toEqual([[1], [2, 3, 4], [2], [3], [4]]);
  });

  it("keeps taking writes after a failure", async () => {
    const w = gatedWriter((items) => items.includes(1));
    const g = new GroupCommit(w.write, 10);
    const failed = g.submit(1).catch((err: Error) => err.message);
    await w.open();
    expect(await failed).toBe("refused 1");
    const later = g.submit(2);
    await w.open();
    await later;
    expect(w.calls).toEqual([[1], [2]]);
  });
});
