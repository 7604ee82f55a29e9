/**
 * SQL storage whose failing statements call `onFailure` before the error propagates. The ExecutionObject resets
 * itself there: a step whose write failed may have changed its memory already, and only storage is the truth.
 */
export function resettingSql(sql: SqlStorage, onFailure: (err: unknown) => void): SqlStorage {
  // Made once: exec runs several times per node, so the trap hands out the same wrapper every time.
  const exec = (query: string, ...bindings: SqlStorageValue[]) => {
    try {
      return sql.exec(query, ...bindings);
    } catch (err) {
      onFailure(err);
      throw err;
    }
  };
  return new Proxy(sql, {
    get: (target, prop) => {
      if (prop === "exec") return exec;
      const value = Reflect.get(target, prop, target) as unknown;
      return typeof value === "function" ? value.bind(target) : value;
    },
  });
}
