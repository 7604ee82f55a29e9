-- Where each tenant's execution history lives (-1: the main database; i: DB_HISTORY_<i>). Existing tenants keep
-- theirs in the main database, where it already is.
ALTER TABLE `tenants` ADD `history_shard` integer DEFAULT -1 NOT NULL;
