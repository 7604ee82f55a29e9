CREATE TABLE `model_checks` (
	`tier` text PRIMARY KEY NOT NULL,
	`provider` text NOT NULL,
	`model` text NOT NULL,
	`ok` integer NOT NULL,
	`error` text,
	`latency_ms` integer NOT NULL,
	`checked_at` integer NOT NULL,
	`since` integer NOT NULL
);
