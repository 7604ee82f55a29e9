// W3C Trace Context: keep the caller's trace id (or start one) and give every outbound call its own span id.

const TRACEPARENT = /^00-([0-9a-f]{32})-([0-9a-f]{16})-([0-9a-f]{2})$/;
// Every start and every outbound call makes one: a table lookup per byte, not a toString/padStart per byte.
const HEX = Array.from({ length: 256 }, (_, b) => b.toString(16).padStart(2, "0"));
const hex = (bytes: number) => {
  let out = "";
  for (const b of crypto.getRandomValues(new Uint8Array(bytes))) out += HEX[b];
  return out;
};

/** The trace id of a valid `traceparent` header, or a new one (all-zero ids are invalid by the spec). */
export function traceIdFrom(header: string | null | undefined): string {
  const m = header ? TRACEPARENT.exec(header.trim().toLowerCase()) : null;
  if (m && !/^0+$/.test(m[1] as string) && !/^0+$/.test(m[2] as string)) return m[1] as string;
  return hex(16);
}

/** A `traceparent` for one outbound call within `traceId` (sampled). */
export function childTraceparent(traceId: string): string {
  return `00-${traceId}-${hex(8)}-01`;
}
