// Sending through Cloudflare's send_email binding (EMAIL), from EMAIL_FROM.
import { EmailMessage } from "cloudflare:email";
import { MIMETextError } from "mimetext/browser";
import { composeMail, emailSender, EmailRefused, type Mail } from "./email";

/** Send one message; the id the binding gave it. Errors other than EmailUnconfigured/EmailRefused are worth a retry. */
export async function sendMail(env: Env, mail: Mail): Promise<string> {
  const from = emailSender(env);
  let raw: string;
  try {
    raw = composeMail(from, mail);
  } catch (err) {
    if (err instanceof MIMETextError) throw new EmailRefused(`email to ${mail.to}: ${err.description}`, { cause: err });
    throw err;
  }
  try {
    const sent = await env.EMAIL.send(new EmailMessage(from, mail.to, raw));
    return sent.messageId;
  } catch (err) {
    const message = err instanceof Error ? err.message : String(err);
    // What the binding says of an address or a message it will never take (documented send() errors).
    if (/not allowed|not verified|invalid|could not parse|does not match/i.test(message))
      throw new EmailRefused(`email to ${mail.to}: ${message}`, { cause: err });
    throw err;
  }
}
