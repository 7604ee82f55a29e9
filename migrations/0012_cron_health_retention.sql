CREATE TABLE `cron_state` (
	`id` text PRIMARY KEY NOT NULL,
	`installed_at` integer NOT NULL,
	`last_tick_at` integer,
	`last_tick_failures` integer DEFAULT 0 NOT NULL
);
--> statement-breakpoint
ALTER TABLE `api_keys` ADD `last_used_at` integer;--> statement-breakpoint
ALTER TABLE `executions` ADD `retain_until` integer;--> statement-breakpoint
CREATE INDEX `executions_retention` ON `executions` (`retain_until`,`finished_at`);--> statement-breakpoint
CREATE INDEX `idempotency_keys_execution` ON `idempotency_keys` (`execution_id`);--> statement-breakpoint
-- Hand-added: the clock's start, so /health can tell "no tick yet" from "the Cron Trigger never fires".
INSERT INTO `cron_state` (`id`, `installed_at`) VALUES ('tick', CAST(strftime('%s', 'now') AS integer) * 1000) ON CONFLICT (`id`) DO NOTHING;
