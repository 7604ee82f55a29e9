// The confirm page an approval link opens: plain HTML with a form, no script at all, a stylesheet from the same
// origin, and headers that keep the link's token out of caches, referrers and frames.
import type { ApprovalRow, DecisionRow } from "../db/approvals-repo";

export const PAGE_HEADERS = {
  "content-type": "text/html; charset=utf-8",
  "content-security-policy":
    "default-src 'none'; style-src 'self'; form-action 'self'; frame-ancestors 'none'; base-uri 'none'",
  "referrer-policy": "no-referrer",
  "cache-control": "no-store",
  "x-robots-tag": "noindex",
  "x-content-type-options": "nosniff",
};

export const PAGE_CSS = `body{font:16px/1.5 system-ui,sans-serif;max-width:40rem;margin:2rem auto;padding:0 1rem;color:#1b1f24}
h1{font-size:1.4rem}.meta{color:#57606a;font-size:.9rem}.msg{white-space:pre-wrap;background:#f6f8fa;padding:.75rem;border-radius:6px}
label{display:block;margin:.75rem 0 .25rem;font-weight:600}input,select,textarea{font:inherit;width:100%;box-sizing:border-box;padding:.4rem}
input[type=checkbox]{width:auto}.actions{display:flex;gap:.75rem;margin-top:1.25rem}
button{font:inherit;padding:.5rem 1.25rem;border-radius:6px;border:1px solid #1f2328;cursor:pointer}
.approve{background:#1a7f37;color:#fff;border-color:#1a7f37}.reject{background:#fff;color:#cf222e;border-color:#cf222e}
.error{color:#cf222e}.done{font-size:1.1rem}`;

const esc = (s: string) =>
  s.replace(
    /[&<>"']/g,
    (ch) => ({ "&": "&amp;", "<": "&lt;", ">": "&gt;", '"': "&quot;", "'": "&#39;" })[ch] as string,
  );

export function page(title: string, body: string): string {
  return `<!doctype html><html lang="en"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width,initial-scale=1">
<title>${esc(title)}</title><link rel="stylesheet" href="/approve/_/page.css"></head><body><main>${body}</main></body></html>`;
}

export function messagePage(heading: string, text: string): string {
  return page(heading, `<h1>${esc(heading)}</h1><p class="done">${esc(text)}</p>`);
}

type Property = { type?: string; enum?: unknown[]; title?: string; description?: string; maxLength?: number };

/** The form for one approver: the approval, its form's fields, a comment, and the two buttons. */
export function confirmPage(
  a: ApprovalRow,
  approver: string,
  errors: { path: string; message: string }[] = [],
): string {
  const props = ((a.form?.properties ?? {}) as Record<string, Property>) ?? {};
  const required = new Set((a.form?.required as string[] | undefined) ?? []);
  const fields = Object.entries(props)
    .map(([name, p]) => field(name, p, required.has(name)))
    .join("");
  const problems = errors.length
    ? `<ul class="error" role="alert">${errors.map((e) => `<li>${esc(e.path)}: ${esc(e.message)}</li>`).join("")}</ul>`
    : "";
  const deadline = a.timeout_ms === null ? "" : ` · decide by ${new Date(a.created_at + a.timeout_ms).toISOString()}`;
  return page(
    a.title,
    `<h1>${esc(a.title)}</h1>
<p class="meta">Asked of ${esc(approver)} · ${a.quorum} of ${a.approvers.length} must approve${esc(deadline)}</p>
${a.message ? `<p class="msg">${esc(a.message)}</p>` : ""}${problems}
<form method="post">${fields}
<label for="comment">Comment</label><textarea id="comment" name="comment" rows="3" maxlength="2000"></textarea>
<div class="actions"><button class="approve" type="submit" name="decision" value="approve">Approve</button>
<button class="reject" type="submit" name="decision" value="reject">Reject</button></div></form>
<p class="meta">Approval ${esc(a.id)} · execution ${esc(a.execution_id)}, step ${esc(a.node_id)}</p>`,
  );
}

function field(name: string, p: Property, required: boolean): string {
  const id = `data.${name}`;
  const label = `<label for="${esc(id)}">${esc(p.title ?? name)}${required ? " *" : ""}</label>`;
  const req = required ? " required" : "";
  const hint = p.description ? `<p class="meta">${esc(p.description)}</p>` : "";
  if (p.enum)
    return `${label}<select id="${esc(id)}" name="${esc(id)}"${req}>${p.enum
      .map((v) => `<option value="${esc(String(v))}">${esc(String(v))}</option>`)
      .join("")}</select>${hint}`;
  if (p.type === "boolean")
    return `<label><input type="checkbox" id="${esc(id)}" name="${esc(id)}" value="true"> ${esc(p.title ?? name)}</label>${hint}`;
  if (p.type === "number" || p.type === "integer")
    return `${label}<input type="number" id="${esc(id)}" name="${esc(id)}"${p.type === "integer" ? ' step="1"' : ' step="any"'}${req}>${hint}`;
  return `${label}<input type="text" id="${esc(id)}" name="${esc(id)}"${req}>${hint}`;
}

/** A form post's `data.*` fields as the form's types: numbers as numbers, a checkbox as a boolean, empty as absent. */
export function formData(a: ApprovalRow, fields: Record<string, string>): Record<string, unknown> {
  const props = (a.form?.properties ?? {}) as Record<string, Property>;
  const out: Record<string, unknown> = {};
  for (const [name, p] of Object.entries(props)) {
    const raw = fields[`data.${name}`];
    if (p.type === "boolean") out[name] = raw === "true";
    else if (raw === undefined || raw === "") continue;
    else if (p.type === "number" || p.type === "integer") out[name] = raw.trim() === "" ? raw : Number(raw);
    else out[name] = raw;
  }
  return out;
}

export function decidedText(d: DecisionRow): string {
  return `You ${d.decision === "approve" ? "approved" : "rejected"} this on ${new Date(d.decided_at).toUTCString()}.`;
}
