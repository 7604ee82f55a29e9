ALTER TABLE `executions` ADD `parent_execution_id` text;--> statement-breakpoint
ALTER TABLE `executions` ADD `parent_node_id` text;--> statement-breakpoint
CREATE INDEX `executions_parent` ON `executions` (`parent_execution_id`);