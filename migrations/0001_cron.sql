CREATE TABLE `alerts` (
	`id` text PRIMARY KEY NOT NULL,
	`monitor_id` text NOT NULL,
	`kind` text NOT NULL,
	`payload` text NOT NULL,
	`created_at` integer NOT NULL,
	`sent_at` integer,
	`attempts` integer NOT NULL,
	`delivered_at` integer,
	`next_attempt_at` integer,
	`last_error` text
);
--> statement-breakpoint
CREATE INDEX `alerts_pending` ON `alerts` (`delivered_at`,`next_attempt_at`);--> statement-breakpoint
CREATE INDEX `alerts_monitor_created` ON `alerts` (`monitor_id`,`created_at`);--> statement-breakpoint
CREATE TABLE `monitor_checks` (
	`id` text PRIMARY KEY NOT NULL,
	`monitor_id` text NOT NULL,
	`at` integer NOT NULL,
	`ok` integer NOT NULL,
	`latency_ms` integer NOT NULL,
	`error` text
);
--> statement-breakpoint
CREATE INDEX `monitor_checks_monitor_at` ON `monitor_checks` (`monitor_id`,`at`);--> statement-breakpoint
CREATE INDEX `monitor_checks_at` ON `monitor_checks` (`at`);--> statement-breakpoint
CREATE TABLE `monitors` (
	`id` text PRIMARY KEY NOT NULL,
	`tenant_id` text NOT NULL,
	`name` text NOT NULL,
	`check` text NOT NULL,
	`interval_seconds` integer NOT NULL,
	`failure_threshold` integer NOT NULL,
	`recovery_threshold` integer NOT NULL,
	`alert` text NOT NULL,
	`secret` text NOT NULL,
	`enabled` integer NOT NULL,
	`status` text NOT NULL,
	`consecutive_failures` integer NOT NULL,
	`consecutive_successes` integer NOT NULL,
	`next_check_at` integer NOT NULL,
	`checking_until` integer,
	`last_checked_at` integer,
	`created_at` integer NOT NULL,
	`updated_at` integer NOT NULL
);
--> statement-breakpoint
CREATE INDEX `monitors_due` ON `monitors` (`enabled`,`next_check_at`);--> statement-breakpoint
CREATE INDEX `monitors_tenant_created` ON `monitors` (`tenant_id`,`created_at`,`id`);--> statement-breakpoint
CREATE TABLE `schedule_runs` (
	`schedule_id` text NOT NULL,
	`scheduled_at` integer NOT NULL,
	`status` text NOT NULL,
	`execution_id` text,
	`reason` text,
	`created_at` integer NOT NULL,
	PRIMARY KEY(`schedule_id`, `scheduled_at`)
);
--> statement-breakpoint
CREATE INDEX `schedule_runs_created` ON `schedule_runs` (`created_at`);--> statement-breakpoint
CREATE TABLE `schedules` (
	`id` text PRIMARY KEY NOT NULL,
	`tenant_id` text NOT NULL,
	`workflow_id` text NOT NULL,
	`cron` text NOT NULL,
	`timezone` text NOT NULL,
	`input` text,
	`enabled` integer NOT NULL,
	`overlap` text NOT NULL,
	`next_run_at` integer,
	`last_run_at` integer,
	`last_execution_id` text,
	`created_at` integer NOT NULL,
	`updated_at` integer NOT NULL
);
--> statement-breakpoint
CREATE INDEX `schedules_due` ON `schedules` (`enabled`,`next_run_at`);--> statement-breakpoint
CREATE INDEX `schedules_tenant_workflow` ON `schedules` (`tenant_id`,`workflow_id`,`created_at`);--> statement-breakpoint
CREATE INDEX `executions_status_projected` ON `executions` (`status`,`projected_at`);--> statement-breakpoint
CREATE INDEX `executions_finished` ON `executions` (`finished_at`);