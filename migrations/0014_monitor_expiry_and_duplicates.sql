ALTER TABLE `monitors` ADD `expires_at` integer;--> statement-breakpoint
ALTER TABLE `monitors` ADD `check_hash` text;--> statement-breakpoint
CREATE UNIQUE INDEX `monitors_tenant_check` ON `monitors` (`tenant_id`,`check_hash`);--> statement-breakpoint
CREATE INDEX `monitors_expiry` ON `monitors` (`expires_at`);