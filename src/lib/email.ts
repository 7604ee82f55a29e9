// Email messages, composed by mimetext (MIME structure, encoded UTF-8 subjects and bodies), one per recipient so
// nobody sees who else was told. Sending is src/lib/send-mail.ts (the binding's module exists only in workerd).
import { createMimeMessage, Mailbox } from "mimetext/browser";

/** Email cannot be sent here: no binding or no EMAIL_FROM. Not retryable; the message names what to set. */
export class EmailUnconfigured extends Error {
  override readonly name = "EmailUnconfigured";
}

/** The binding refused the message (an address it will not send to or from): the same message will not pass later. */
export class EmailRefused extends Error {
  override readonly name = "EmailRefused";
}

export interface Mail {
  to: string;
  subject: string;
  text: string;
  html?: string | undefined;
  replyTo?: string | undefined;
  /** Extra headers (e.g. X-Edgeflow-Monitor), for filters on the receiving side. */
  headers?: Record<string, string> | undefined;
}

/** The configured sender, or why email is off. */
export function emailSender(env: Env): string {
  if (!env.EMAIL) throw new EmailUnconfigured("email is off: wrangler.toml has no [[send_email]] binding named EMAIL");
  if (!env.EMAIL_FROM) throw new EmailUnconfigured("email is off: set EMAIL_FROM in [vars] to the sender address");
  return env.EMAIL_FROM;
}

export function composeMail(from: string, mail: Mail): string {
  const msg = createMimeMessage();
  msg.setSender({ name: "Edgeflow", addr: from });
  msg.setRecipient(mail.to);
  msg.setSubject(mail.subject);
  if (mail.replyTo) msg.setHeader("Reply-To", new Mailbox(mail.replyTo));
  for (const [name, value] of Object.entries(mail.headers ?? {})) msg.setHeader(name, value);
  const part = (contentType: string, data: string) =>
    // 7bit allows ASCII lines of at most 998 octets ending in CRLF; anything else goes as base64.
    /^[\x01-\x7f]*$/.test(data) && !/[^\r\n]{999}/.test(data)
      ? { contentType, data: data.replace(/\r?\n/g, "\r\n") }
      : { contentType, encoding: "base64" as const, data: msg.toBase64(data) };
  msg.addMessage(part("text/plain", mail.text));
  if (mail.html) msg.addMessage(part("text/html", mail.html));
  return msg.asRaw();
}
