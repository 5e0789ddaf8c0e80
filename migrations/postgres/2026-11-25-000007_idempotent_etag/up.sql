-- A replayed response carries the first response's ETag too.
ALTER TABLE idempotency_keys ADD COLUMN response_etag TEXT;
