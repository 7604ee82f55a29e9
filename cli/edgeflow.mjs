#!/usr/bin/env node
// edgeflow: the command-line client. `edgeflow help` lists the commands and the exit codes.
import { parseArgs } from "node:util";
import * as cmd from "./commands.mjs";

const HELP = `usage: edgeflow <command> [options]

  login --url <base-url> [--key <key>]     save the API's address and a key (the key may come on stdin)
  workflows apply <file|dir>... [--migrate-running [--chunk <n>]]
                                           create each workflow, or publish a new version only if it changed;
                                           --migrate-running: then move the previous version's unfinished runs
                                           to it, printing which can move and why the rest cannot (exit 1 if any
                                           stays behind), <n> a request (250) with progress on stderr
  test <file> --replay <execution>[,…]     golden replay: would any node of these recorded runs get another
                                           resolved input under this definition? (nothing runs; exit 1 if so)
  run <workflow> [--input <json|@file>] [--watch | --wait] [--idempotency-key <k>]
                                           start an execution (workflow id or name); --watch follows it,
                                           --wait starts and waits in one request and prints its output
  run <workflow> --batch <@file|->         one execution per line of an NDJSON file ({"input": …} per line),
                                           1,000 a request; prints "<id> created|replayed" per item, refusals
                                           with their line on stderr; exit 1 if any item was refused. Items
                                           without an idempotency_key get one from the file's name and their
                                           line: the same file run again replays instead of starting twice
  watch <execution>                        live progress until it ends
  chat <conversation> | chat --workflow <w>
                                           one message per line of stdin, each reply printed as it streams
  ls [--status <s>] [--workflow <w>] [--limit <n>]
                                           recent executions
  logs <execution>                         its event log
  cancel <execution> [--reason <text>]
  redrive <execution> [--from-node <id>] [--input-patch <json|@file>] [--idempotency-key <k>]
  fork <execution> --from-node <id> [--output-patch <json|@file>] [--input-patch <json|@file>]
       [--effects mock|allow] [--label <text>] [--watch] [--idempotency-key <k>]
                                           a new execution from this one's state: from-node and what is
                                           downstream run again (with --output-patch, only downstream), the
                                           rest keeps its outputs; side effects are mocked unless allowed
  diff <execution> --against <execution>   per node unchanged/changed/new/skipped, each changed output path,
                                           and the model cost of both; exit 1 if anything changed
  events send <execution> <name> [--payload <json|@file>] [--idempotency-key <k>]

Every command that creates or changes something sends an Idempotency-Key (--idempotency-key <k>, else one of its
own) and sends again under it when the answer is lost: a dropped connection never does it twice. The same
--idempotency-key in another command is the same request: it prints what the first did ("already").

exit codes: 0 done (a watched run succeeded, a replay or a diff found no change), 1 a watched run failed, was
            cancelled or timed out, a replay or a diff found a change, a batch item was refused, or a migration
            left runs behind,
            2 bad usage, 3 the API refused the request, 4 the API could not be reached
environment: EDGEFLOW_URL and EDGEFLOW_API_KEY override the saved login; NO_COLOR turns off colours.`;

const OPTIONS = {
  url: { type: "string" },
  key: { type: "string" },
  input: { type: "string" },
  watch: { type: "boolean" },
  wait: { type: "boolean" },
  batch: { type: "string" },
  status: { type: "string" },
  workflow: { type: "string" },
  limit: { type: "string" },
  reason: { type: "string" },
  "from-node": { type: "string" },
  "input-patch": { type: "string" },
  "output-patch": { type: "string" },
  effects: { type: "string" },
  label: { type: "string" },
  against: { type: "string" },
  "migrate-running": { type: "boolean" },
  chunk: { type: "string" },
  payload: { type: "string" },
  "idempotency-key": { type: "string" },
  replay: { type: "string", multiple: true },
  help: { type: "boolean", short: "h" },
};

async function main(argv) {
  let parsed;
  try {
    parsed = parseArgs({ args: argv, options: OPTIONS, allowPositionals: true, strict: true });
  } catch (err) {
    throw new cmd.UsageError(err.message);
  }
  const { values, positionals } = parsed;
  const [command, ...rest] = positionals;
  if (values.help || !command || command === "help") {
    console.log(HELP);
    return command || values.help ? 0 : 2;
  }
  switch (command) {
    case "login":
      return cmd.login(values);
    case "workflows":
      if (rest[0] === "apply") return cmd.apply(rest.slice(1), values);
      throw new cmd.UsageError(`unknown command "workflows ${rest[0] ?? ""}"; try "workflows apply <file|dir>"`);
    case "test":
      return cmd.replayTest(rest[0], values);
    case "run":
      return cmd.run(rest[0], values);
    case "chat":
      return cmd.chatCommand(rest[0], values);
    case "watch":
      return cmd.watchCommand(rest[0]);
    case "ls":
      return cmd.ls(values);
    case "logs":
      return cmd.logs(rest[0]);
    case "cancel":
      return cmd.cancel(rest[0], values);
    case "redrive":
      return cmd.redrive(rest[0], values);
    case "fork":
      return cmd.fork(rest[0], values);
    case "diff":
      return cmd.diff(rest[0], values);
    case "events":
      if (rest[0] === "send") return cmd.sendEvent(rest[1], rest[2], values);
      throw new cmd.UsageError(`unknown command "events ${rest[0] ?? ""}"; try "events send <execution> <name>"`);
    default:
      throw new cmd.UsageError(`unknown command "${command}"`);
  }
}

try {
  process.exitCode = await main(process.argv.slice(2));
} catch (err) {
  cmd.report(err);
  if (err?.name === "UsageError") console.error('see "edgeflow help"');
  process.exitCode =
    err?.name === "UsageError" ? 2 : err?.name === "ApiError" ? 3 : err?.name === "NetworkError" ? 4 : 1;
}
