// Progress on stderr, so stdout keeps only the report: a bar redrawn in place on a terminal, one line per update in a
// pipe (the last one is left to the report).

/** `detail(t)` says what the counts `t` passed to draw/end mean. */
export function progressBar(total, detail) {
  const out = process.stderr;
  const tty = Boolean(out.isTTY) && process.env.TERM !== "dumb";
  const line = (done, t) => {
    const filled = Math.round((20 * done) / total);
    return `[${"#".repeat(filled)}${".".repeat(20 - filled)}] ${done}/${total}  ${detail(t)}`;
  };
  let drawn = false;
  return {
    draw(done, t) {
      if (tty) {
        out.write(`\r\x1b[2K${line(done, t)}`);
        drawn = true;
      } else if (done < total) out.write(`${line(done, t)}\n`);
    },
    clear() {
      if (drawn) out.write("\r\x1b[2K");
      drawn = false;
    },
    end(done, t) {
      if (tty) out.write(`\r\x1b[2K${line(done, t)}\n`);
      drawn = false;
    },
  };
}
