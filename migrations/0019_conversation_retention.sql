ALTER TABLE `conversations` ADD `retain_days` integer DEFAULT 30 NOT NULL;--> statement-breakpoint
ALTER TABLE `conversations` ADD `retain_until` integer;--> statement-breakpoint
CREATE INDEX `conversations_by_retention` ON `conversations` (`retain_until`);--> statement-breakpoint
-- Conversations created before this migration are kept RETENTION_DAYS' default (30) after their last activity.
UPDATE `conversations` SET `retain_until` = `updated_at` + `retain_days` * 86400000;
