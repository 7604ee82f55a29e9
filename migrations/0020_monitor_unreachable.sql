ALTER TABLE `monitor_checks` ADD `outcome` text;--> statement-breakpoint
ALTER TABLE `monitors` ADD `consecutive_unreachable` integer DEFAULT 0 NOT NULL;--> statement-breakpoint
ALTER TABLE `monitors` ADD `unreachable_threshold` integer DEFAULT 3 NOT NULL;