ALTER TABLE `executions` ADD `wake_at` integer;--> statement-breakpoint
CREATE INDEX `executions_status_wake` ON `executions` (`status`,`wake_at`);