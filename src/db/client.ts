import { drizzle } from "drizzle-orm/d1";
import * as schema from "./schema";

export type Db = ReturnType<typeof drizzle<typeof schema>>;

/** A per-request handle on D1 that counts statements, so responses can report (and tests can bound) D1 work. */
export interface CountedDb {
  db: Db;
  queries: () => number;
}

export function openDb(d1: D1Database): CountedDb {
  let count = 0;
  const counting = new Proxy(d1, {
    get(target, prop, receiver) {
      if (prop === "prepare") {
        return (query: string) => {
          count++;
          return target.prepare(query);
        };
      }
      const value = Reflect.get(target, prop, receiver) as unknown;
      return typeof value === "function" ? (value as (...a: unknown[]) => unknown).bind(target) : value;
    },
  });
  return { db: drizzle(counting, { schema }), queries: () => count };
}
