CREATE TABLE `conversation_messages` (
	`conversation_id` text NOT NULL,
	`seq` integer NOT NULL,
	`role` text NOT NULL,
	`content` text,
	`status` text NOT NULL,
	`execution_id` text NOT NULL,
	`tokens` integer NOT NULL,
	`error_code` text,
	`error_message` text,
	`created_at` integer NOT NULL,
	PRIMARY KEY(`conversation_id`, `seq`)
);
--> statement-breakpoint
CREATE TABLE `conversations` (
	`id` text PRIMARY KEY NOT NULL,
	`tenant_id` text NOT NULL,
	`workflow_id` text NOT NULL,
	`version` integer,
	`user_id` text,
	`metadata` text,
	`history_tokens` integer NOT NULL,
	`summary` text,
	`message_count` integer DEFAULT 0 NOT NULL,
	`last_message_role` text,
	`last_message` text,
	`last_message_status` text,
	`last_message_at` integer,
	`active_execution_id` text,
	`active_since` integer,
	`created_at` integer NOT NULL,
	`updated_at` integer NOT NULL,
	`deleted_at` integer
);
--> statement-breakpoint
CREATE INDEX `conversations_by_tenant` ON `conversations` (`tenant_id`,`updated_at`,`id`);--> statement-breakpoint
CREATE INDEX `conversations_by_user` ON `conversations` (`tenant_id`,`user_id`,`updated_at`,`id`);