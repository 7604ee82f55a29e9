// What miniflare's send_email binding wrote: every message it accepted is a .eml file under its temp directory
// (os.tmpdir()/miniflare-*/email/email/<message id>.eml). The tests read those back, so what they assert is the
// message the binding took, not a copy of ours.
import { readdirSync, readFileSync, statSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";

export interface CapturedMail {
  id: string;
  from: string;
  to: string;
  subject: string;
  headers: Record<string, string>;
  /** The decoded text/plain part. */
  text: string;
  raw: string;
}

/** Messages to `to` written since `since` (ms), oldest first. */
export function mailTo(to: string, since: number): CapturedMail[] {
  const out: { at: number; mail: CapturedMail }[] = [];
  for (const dir of readdirSync(tmpdir()).filter((d) => d.startsWith("miniflare-"))) {
    const emails = join(tmpdir(), dir, "email", "email");
    let names: string[];
    try {
      names = readdirSync(emails).filter((n) => n.endsWith(".eml"));
    } catch {
      continue;
    }
    for (const name of names) {
      const file = join(emails, name);
      const at = statSync(file).mtimeMs;
      if (at < since) continue;
      const mail = parse(name.slice(0, -4), readFileSync(file, "utf8"));
      if (mail.to.toLowerCase() === to.toLowerCase()) out.push({ at, mail });
    }
  }
  return out.sort((a, b) => a.at - b.at).map((m) => m.mail);
}

function parse(id: string, raw: string): CapturedMail {
  const [head = "", ...rest] = raw.split(/\r?\n\r?\n/);
  const headers: Record<string, string> = {};
  for (const line of head.replace(/\r?\n[ \t]+/g, " ").split(/\r?\n/)) {
    const i = line.indexOf(":");
    if (i > 0) headers[line.slice(0, i).trim().toLowerCase()] = decodeWords(line.slice(i + 1).trim());
  }
  const addr = (v = "") => /<([^>]+)>/.exec(v)?.[1] ?? v.trim();
  return {
    id,
    from: addr(headers.from),
    to: addr(headers.to),
    subject: headers.subject ?? "",
    headers,
    text: textPart(rest.join("\n\n"), headers),
    raw,
  };
}

/** RFC 2047 encoded words (=?utf-8?B?...?=), as mimetext writes a non-ASCII subject. */
function decodeWords(v: string): string {
  return v.replace(/=\?utf-8\?B\?([^?]*)\?=/gi, (_, b64: string) => Buffer.from(b64, "base64").toString("utf8"));
}

function textPart(body: string, headers: Record<string, string>): string {
  const boundary = /boundary="?([^";]+)"?/.exec(headers["content-type"] ?? "")?.[1];
  if (!boundary) return decodePart(headers["content-transfer-encoding"] ?? "", body);
  for (const part of body.split(`--${boundary}`)) {
    const [h = "", ...b] = part.replace(/^\r?\n/, "").split(/\r?\n\r?\n/);
    if (!/content-type:\s*text\/plain/i.test(h)) continue;
    return decodePart(/content-transfer-encoding:\s*(\S+)/i.exec(h)?.[1] ?? "", b.join("\n\n"));
  }
  return "";
}

function decodePart(encoding: string, body: string): string {
  const text = body.replace(/\r\n/g, "\n").trim();
  return /base64/i.test(encoding) ? Buffer.from(text, "base64").toString("utf8") : text;
}
