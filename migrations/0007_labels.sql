CREATE TABLE `execution_metadata` (
	`tenant_id` text NOT NULL,
	`key` text NOT NULL,
	`value` text NOT NULL,
	`execution_id` text NOT NULL,
	`created_at` integer NOT NULL,
	PRIMARY KEY(`tenant_id`, `key`, `value`, `execution_id`)
);
--> statement-breakpoint
CREATE INDEX `execution_metadata_search` ON `execution_metadata` (`tenant_id`,`key`,`value`,`created_at`);--> statement-breakpoint
CREATE INDEX `execution_metadata_execution` ON `execution_metadata` (`execution_id`);--> statement-breakpoint
CREATE TABLE `execution_tags` (
	`tenant_id` text NOT NULL,
	`tag` text NOT NULL,
	`execution_id` text NOT NULL,
	`created_at` integer NOT NULL,
	PRIMARY KEY(`tenant_id`, `tag`, `execution_id`)
);
--> statement-breakpoint
CREATE INDEX `execution_tags_search` ON `execution_tags` (`tenant_id`,`tag`,`created_at`);--> statement-breakpoint
CREATE INDEX `execution_tags_execution` ON `execution_tags` (`execution_id`);