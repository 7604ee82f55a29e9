CREATE TABLE `create_requests` (
	`tenant_id` text NOT NULL,
	`scope` text NOT NULL,
	`key` text NOT NULL,
	`request_hash` text NOT NULL,
	`resource_id` text NOT NULL,
	`created_at` integer NOT NULL,
	`completed_at` integer,
	PRIMARY KEY(`tenant_id`, `scope`, `key`)
);
--> statement-breakpoint
CREATE INDEX `create_requests_created` ON `create_requests` (`created_at`);--> statement-breakpoint
ALTER TABLE `schedules` ADD `disabled_reason` text;