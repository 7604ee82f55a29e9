CREATE TABLE `approval_decisions` (
	`approval_id` text NOT NULL,
	`approver` text NOT NULL,
	`decision` text NOT NULL,
	`data` text,
	`comment` text,
	`decided_at` integer NOT NULL,
	`via` text NOT NULL,
	`ip` text,
	`user_agent` text,
	PRIMARY KEY(`approval_id`, `approver`)
);
--> statement-breakpoint
CREATE TABLE `approval_notices` (
	`id` text PRIMARY KEY NOT NULL,
	`approval_id` text NOT NULL,
	`kind` text NOT NULL,
	`channel` text NOT NULL,
	`recipient` text,
	`created_at` integer NOT NULL,
	`attempts` integer NOT NULL,
	`delivered_at` integer,
	`next_attempt_at` integer,
	`last_error` text
);
--> statement-breakpoint
CREATE INDEX `approval_notices_pending` ON `approval_notices` (`delivered_at`,`next_attempt_at`);--> statement-breakpoint
CREATE INDEX `approval_notices_approval` ON `approval_notices` (`approval_id`,`created_at`);--> statement-breakpoint
CREATE TABLE `approvals` (
	`id` text PRIMARY KEY NOT NULL,
	`tenant_id` text NOT NULL,
	`execution_id` text NOT NULL,
	`workflow_id` text NOT NULL,
	`node_id` text NOT NULL,
	`title` text NOT NULL,
	`message` text,
	`approvers` text NOT NULL,
	`quorum` integer NOT NULL,
	`form` text,
	`email` integer NOT NULL,
	`webhook_url` text,
	`webhook_secret` text,
	`remind_every_ms` integer,
	`escalate` text NOT NULL,
	`timeout_ms` integer,
	`timeout_action` text,
	`status` text NOT NULL,
	`created_at` integer NOT NULL,
	`reminders_sent` integer NOT NULL,
	`escalations` integer NOT NULL,
	`next_action_at` integer,
	`decided_at` integer,
	`delivered_at` integer
);
--> statement-breakpoint
CREATE INDEX `approvals_tenant_status` ON `approvals` (`tenant_id`,`status`,`created_at`);--> statement-breakpoint
CREATE INDEX `approvals_due` ON `approvals` (`status`,`next_action_at`);--> statement-breakpoint
CREATE INDEX `approvals_undelivered` ON `approvals` (`delivered_at`,`decided_at`);--> statement-breakpoint
CREATE INDEX `approvals_execution` ON `approvals` (`execution_id`);