import { Hono, type Context } from "hono";
import * as repo from "../db/approvals-repo";
import { verifyLink, type LinkClaims } from "../lib/approval-link";
import { problemResponse } from "../lib/problem";
import { SecretsUnconfigured } from "../lib/secret-box";
import type { AppEnv } from "../middleware/context";
import { cancelIfRunEnded, closed, decide } from "../services/approvals";
import { PAGE_CSS, PAGE_HEADERS, confirmPage, decidedText, formData, messagePage } from "./approve-html";

type Refused = { status: 403 | 409 | 410 | 400 | 503; code: string; heading: string; text: string };

/**
 * An answer for a person (HTML) or, when the client asks for JSON, for a program (problem+json with the same code):
 * the page is what a browser sees, the code what a test or an integration checks.
 */
function refuse(c: Context<AppEnv>, r: Refused): Response {
  const accept = c.req.header("accept") ?? "";
  if (accept.includes("application/json") && !accept.includes("text/html"))
    return problemResponse({ status: r.status, code: r.code, detail: r.text, request_id: c.get("requestId") });
  return new Response(messagePage(r.heading, r.text), { status: r.status, headers: PAGE_HEADERS });
}

const html = (body: string, status = 200) => new Response(body, { status, headers: PAGE_HEADERS });

/** The link's claims and its approval, or why the link does not open: forged or for another step (403), expired (410). */
async function resolve(
  c: Context<AppEnv>,
): Promise<{ claims: LinkClaims; a: repo.ApprovalRow } | { refused: Refused }> {
  let claims: LinkClaims | null;
  try {
    claims = await verifyLink(c.env, c.req.param("token") ?? "");
  } catch (err) {
    if (!(err instanceof SecretsUnconfigured)) throw err;
    return { refused: { status: 503, code: "approval_unconfigured", heading: "Not available", text: err.message } };
  }
  const invalid: Refused = {
    status: 403,
    code: "link_invalid",
    heading: "This link is not valid",
    text: "This approval link was not issued by this service, or not for this step. Use the link from your latest message.",
  };
  if (!claims) return { refused: invalid };
  const a = await repo.getApproval(c.get("db").db, claims.approval_id);
  if (
    !a ||
    a.execution_id !== claims.execution_id ||
    a.node_id !== claims.node_id ||
    !a.approvers.includes(claims.approver)
  )
    return { refused: invalid };
  if (claims.expires_at <= Date.now())
    return {
      refused: {
        status: 410,
        code: "link_expired",
        heading: "This link has expired",
        text: `It expired on ${new Date(claims.expires_at).toISOString()}. A reminder brings a fresh one while the approval is open.`,
      },
    };
  return { claims, a };
}

/** /approve/:token — what an approval link opens. GET only shows (mail scanners fetch links); POST decides. */
export const approvePage = new Hono<AppEnv>()
  .get("/_/page.css", () => new Response(PAGE_CSS, { headers: { "content-type": "text/css; charset=utf-8" } }))
  .get("/:token", async (c) => {
    const r = await resolve(c);
    if ("refused" in r) return refuse(c, r.refused);
    const { a, claims } = r;
    const theirs = (await repo.decisionsOf(c.get("db").db, a.id)).find((d) => d.approver === claims.approver);
    if (theirs) return html(messagePage("Already decided", decidedText(theirs)));
    // A run cancelled since the last tick closes its approval now, not at the next reminder.
    const ended = a.status === "pending" && (await cancelIfRunEnded(c.env, c.get("db").db, a, Date.now()));
    const status = ended ? "cancelled" : a.status;
    if (status !== "pending")
      return refuse(c, {
        status: 410,
        code: "approval_closed",
        heading: "This approval is closed",
        text: closed({ ...a, status }).detail,
      });
    return html(confirmPage(a, claims.approver));
  })
  .post("/:token", async (c) => {
    const r = await resolve(c);
    if ("refused" in r) return refuse(c, r.refused);
    const { a, claims } = r;
    const fields = (await c.req.parseBody()) as Record<string, string>;
    const decision = fields.decision;
    if (decision !== "approve" && decision !== "reject")
      return refuse(c, { status: 400, code: "validation_failed", heading: "Choose", text: "Press Approve or Reject." });
    const done = await decide(c.env, c.get("db").db, a, {
      approver: claims.approver,
      decision,
      data: formData(a, fields),
      comment: typeof fields.comment === "string" && fields.comment.trim() ? fields.comment.slice(0, 2000) : null,
      via: "link",
      ip: c.req.header("cf-connecting-ip") ?? null,
      user_agent: c.req.header("user-agent")?.slice(0, 512) ?? null,
      now: Date.now(),
    });
    if (!done.ok) {
      if (done.status === 422) return html(confirmPage(a, claims.approver, done.errors as never), 422);
      // A used link deciding otherwise: the first decision stands.
      if (done.status === 409)
        return refuse(c, { status: 410, code: "link_used", heading: "Already decided", text: done.detail });
      return refuse(c, {
        status: done.status === 404 ? 410 : done.status,
        code: done.code,
        heading: "This approval is closed",
        text: done.detail,
      });
    }
    const status = done.approval.status;
    const after =
      status === "pending"
        ? "The approval waits for the other approvers."
        : `The approval is ${status === "approved" ? "approved" : "rejected"}; the workflow goes on.`;
    return html(messagePage("Thank you", `${decidedText(done.decision)} ${after}`));
  });
