DROP TABLE idempotency_keys;
DROP TABLE payments;
DROP TABLE installments;
DROP TABLE grants;
DROP TABLE deal_events;
DROP TABLE deal_signatures;
DROP TABLE deal_revisions;
DROP TABLE deals;
