// `edgeflow chat`: a conversation in the terminal. Each line read is one message; its reply is printed as the model
// writes it, from the turn's node.delta events (resumed by seq after a drop), then checked against the stored answer.
import { createInterface } from "node:readline";

/** What a turn printed: the reply's text as the deltas placed it (a restart of the answer is marked). */
function printer(out) {
  let shown = "";
  let attempt = null;
  return {
    get any() {
      return shown.length > 0;
    },
    delta(e) {
      const { text, offset } = e.data;
      if (attempt !== null && e.attempt !== attempt) {
        out.write("\n[retrying]\n");
        shown = "";
      } else if (offset < shown.length && shown.slice(offset).trim() !== "") {
        // The attempt ran again after a crash: its text starts over.
        out.write("\n[restarted]\n");
        shown = "";
      }
      attempt = e.attempt;
      shown = shown.slice(0, Math.min(offset, shown.length)) + text;
      out.write(text);
    },
  };
}

/** The stored answer to the user's message `seq`, once the turn's end has landed (within seconds of the run's end). */
async function answerTo(api, conversation, seq) {
  for (let i = 0; i < 50; i++) {
    const page = await api.get(`/v1/conversations/${conversation}/messages?after=${seq}&limit=1`);
    if (page.data[0]) return page.data[0];
    await new Promise((r) => setTimeout(r, 100));
  }
  throw new Error(`the answer to message ${seq} did not arrive`);
}

/** Send one message and print its reply; false when the turn failed. */
async function turn(api, conversation, content) {
  // Keyed: a message whose answer was lost is sent again as the same turn, never a second one.
  const sent = await api.postOnce(`/v1/conversations/${conversation}/messages`, { content });
  const out = printer(process.stdout);
  for await (const e of api.events(sent.execution_id)) if (e.type === "node.delta") out.delta(e);
  const answer = await answerTo(api, conversation, sent.message.seq);
  if (answer.status === "ok" && !out.any) process.stdout.write(answer.content);
  if (answer.status === "ok" || out.any) process.stdout.write("\n");
  if (answer.status !== "ok") {
    console.error(
      `turn ${answer.status}: ${answer.error?.code ?? ""}${answer.error ? `: ${answer.error.message}` : ""}`,
    );
    return false;
  }
  return true;
}

/** Read messages from standard input (a prompt when it is a terminal); exit 1 when any turn failed. */
export async function chat(api, conversation) {
  const tty = process.stdin.isTTY;
  const lines = createInterface({ input: process.stdin, terminal: false });
  let failed = false;
  if (tty) process.stderr.write("> ");
  for await (const line of lines) {
    const content = line.trim();
    if (content) failed = !(await turn(api, conversation, content)) || failed;
    if (tty) process.stderr.write("> ");
  }
  return failed ? 1 : 0;
}
