import { drizzle, type DrizzleD1Database } from "drizzle-orm/d1";

// Without a schema: Edgeflow uses Drizzle's query builder, not its relational queries (db.query.*), and handing it
// the schema made every handle walk all tables to build the relational config, on every request and projection.
export type Db = DrizzleD1Database & { $client: D1Database };

/**
 * A per-request handle on D1 that counts statements and round trips (a batch is one; a statement run alone is
 * one), so responses can report, and tests can bound, the D1 work a request does.
 */
export interface CountedDb {
  db: Db;
  queries: () => number;
  roundTrips: () => number;
}

const RUNS = new Set(["all", "run", "first", "raw"]);

export function openDb(d1: D1Database): CountedDb {
  let count = 0;
  let trips = 0;
  const counting = new Proxy(d1, {
    get(target, prop, receiver) {
      if (prop === "prepare") {
        return (query: string) => {
          count++;
          return countRuns(target.prepare(query), () => trips++);
        };
      }
      if (prop === "batch") {
        return (statements: D1PreparedStatement[]) => {
          trips++;
          return target.batch(statements.map(unwrap));
        };
      }
      const value = Reflect.get(target, prop, receiver) as unknown;
      return typeof value === "function" ? (value as (...a: unknown[]) => unknown).bind(target) : value;
    },
  });
  return { db: drizzle(counting), queries: () => count, roundTrips: () => trips };
}

const UNWRAPPED = Symbol("unwrapped statement");

/** A statement whose runs count as round trips; `bind` keeps the wrapper, a batch takes the statement inside. */
function countRuns(stmt: D1PreparedStatement, trip: () => void): D1PreparedStatement {
  return new Proxy(stmt, {
    get(target, prop) {
      if (prop === UNWRAPPED) return target;
      const value = Reflect.get(target, prop, target) as unknown;
      if (typeof value !== "function") return value;
      if (prop === "bind") return (...args: unknown[]) => countRuns(target.bind(...args), trip);
      if (RUNS.has(prop as string))
        return (...args: unknown[]) => {
          trip();
          return (value as (...a: unknown[]) => unknown).apply(target, args);
        };
      return (value as (...a: unknown[]) => unknown).bind(target);
    },
  });
}

function unwrap(stmt: D1PreparedStatement): D1PreparedStatement {
  return (stmt as unknown as Record<symbol, D1PreparedStatement | undefined>)[UNWRAPPED] ?? stmt;
}
