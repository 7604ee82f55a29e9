import { z } from "zod";

/** An address as a recipient field accepts it: a bare addr-spec (no display name, no list), at most 254 characters. */
export const emailAddress = z.email({ message: "must be an email address" }).max(254);

/** A recipient field in a node's config: an address, checked at save, or a template, checked once rendered. */
export const emailRecipient = z
  .string()
  .min(1)
  .max(1024)
  .refine((s) => s.includes("{{") || emailAddress.safeParse(s).success, "must be an email address or a {{ template }}");

/** One recipient or a list; a whole template may render either. */
export const emailRecipients = (max: number) => z.union([emailRecipient, z.array(emailRecipient).min(1).max(max)]);
