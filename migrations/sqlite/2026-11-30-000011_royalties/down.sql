DROP TABLE royalty_statements;
DROP TABLE usage_reports;
