/**
 * SQL storage whose failing statements call `onFailure` before the error propagates. The ExecutionObject resets
 * itself there: a step whose write failed may have changed its memory already, and only storage is the truth.
 */
export function resettingSql(sql: SqlStorage, onFailure: (err: unknown) => void): SqlStorage {
  return new Proxy(sql, {
    get: (target, prop) => {
      if (prop !== "exec") {
        const value = Reflect.get(target, prop, target) as unknown;
        return typeof value === "function" ? value.bind(target) : value;
      }
      return (query: string, ...bindings: SqlStorageValue[]) => {
        try {
          return target.exec(query, ...bindings);
        } catch (err) {
          onFailure(err);
          throw err;
        }
      };
    },
  });
}
