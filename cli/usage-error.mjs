// A command used wrongly (exit code 2): the message says what to do instead.
export class UsageError extends Error {
  name = "UsageError";
}
