DROP TABLE deal_watchers;
