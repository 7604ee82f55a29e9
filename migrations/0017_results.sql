CREATE TABLE `results` (
	`execution_id` text NOT NULL,
	`node_id` text NOT NULL,
	`tenant_id` text NOT NULL,
	`workflow_id` text NOT NULL,
	`name` text NOT NULL,
	`key` text,
	`value` text,
	`created_at` integer NOT NULL,
	`seq` integer NOT NULL,
	PRIMARY KEY(`execution_id`, `node_id`)
);
--> statement-breakpoint
CREATE INDEX `results_by_workflow` ON `results` (`tenant_id`,`workflow_id`,`name`,`key`,`created_at`);--> statement-breakpoint
CREATE INDEX `results_by_name` ON `results` (`tenant_id`,`name`,`key`,`created_at`);