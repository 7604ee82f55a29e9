CREATE TABLE `tenant_origins` (
	`tenant_id` text NOT NULL,
	`origin` text NOT NULL,
	PRIMARY KEY(`tenant_id`, `origin`)
);
--> statement-breakpoint
CREATE INDEX `tenant_origins_origin` ON `tenant_origins` (`origin`);