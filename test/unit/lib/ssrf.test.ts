import { describe, expect, it } from "vitest";
import { checkUrl } from "../../../src/lib/ssrf";

const refusedUrls = [
  "http://127.0.0.1/",
  "http://127.1/",
  "http://2130706433/",
  "http://0x7f000001/",
  "http://0177.0.0.1/",
  "http://0x7f.0.0.1/",
  "http://10.0.0.5/",
  "http://172.16.3.4/",
  "http://172.31.255.255/",
  "http://192.168.1.1/",
  "http://169.254.169.254/latest/meta-data",
  "http://100.64.0.1/",
  "http://100.127.255.254/",
  "http://0.0.0.0/",
  "http://224.0.0.1/",
  "http://255.255.255.255/",
  "http://192.0.0.8/",
  "http://[::1]/",
  "http://[::]/",
  "http://[::ffff:127.0.0.1]/",
  "http://[::ffff:7f00:1]/",
  "http://[::ffff:a9fe:a9fe]/",
  "http://[64:ff9b::10.0.0.1]/",
  "http://[fc00::1]/",
  "http://[fd12:3456::1]/",
  "http://[fe80::1]/",
  "http://[ff02::1]/",
  "http://localhost/",
  "http://LOCALHOST./",
  "http://api.localhost/",
  "http://db.internal/",
  "http://metadata.google.internal/",
  "http://printer.local/",
  "ftp://example.com/",
  "file:///etc/passwd",
  "gopher://example.com/",
  "javascript:alert(1)",
  "http://user:pw@example.com/",
  "not a url",
];

describe("SSRF guard", () => {
  it.each(refusedUrls)("refuses %s", (u) => {
    expect(checkUrl(u, []).ok).toBe(false);
  });

  it.each([
    "https://api.example.com/v1",
    "http://93.184.216.34/",
    "http://[2606:4700::1111]/",
    "https://100.128.0.1/",
    "http://172.32.0.1/",
  ])("allows %s", (u) => {
    expect(checkUrl(u, []).ok).toBe(true);
  });

  it("allows listed private hosts only", () => {
    expect(checkUrl("http://127.0.0.1:8080/x", ["127.0.0.1"]).ok).toBe(true);
    expect(checkUrl("http://localhost:8080/x", ["127.0.0.1"]).ok).toBe(false);
    expect(checkUrl("http://2130706433/", ["127.0.0.1"]).ok).toBe(true);
  });

  it("says why", () => {
    expect(checkUrl("http://169.254.169.254/", [])).toEqual({
      ok: false,
      reason:
        "169.254.169.254 is a private, loopback, link-local or metadata address (list it in ALLOWED_PRIVATE_HOSTS to allow it)",
    });
  });
});
