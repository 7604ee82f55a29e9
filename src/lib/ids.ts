import { monotonicFactory } from "ulidx";

// ULIDs sort by creation time, so keyset pagination over ids follows creation order.
const next = monotonicFactory();

export const newId = (
  prefix: "ex" | "wf" | "req" | "key" | "ten" | "sch" | "mon" | "msg" | "chk" | "cv" | "pub",
): string => `${prefix}_${next()}`;

const ID = /^(ex|wf|cv)_[0-9A-HJKMNP-TV-Z]{26}$/;
export const isId = (prefix: "ex" | "wf" | "cv", value: string): boolean =>
  ID.test(value) && value.startsWith(`${prefix}_`);
