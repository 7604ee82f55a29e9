CREATE TABLE `connections` (
	`tenant_id` text NOT NULL,
	`name` text NOT NULL,
	`grant` text NOT NULL,
	`token_url` text NOT NULL,
	`client_id` text NOT NULL,
	`auth_method` text NOT NULL,
	`scope` text,
	`audience` text,
	`client_secret` text NOT NULL,
	`refresh_token` text,
	`created_at` integer NOT NULL,
	`updated_at` integer NOT NULL,
	`last_error` text,
	`last_token_at` integer,
	PRIMARY KEY(`tenant_id`, `name`)
);
--> statement-breakpoint
CREATE INDEX `connections_failing` ON `connections` (`last_error`);