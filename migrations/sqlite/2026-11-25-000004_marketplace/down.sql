DROP TABLE request_targets;
DROP TABLE requests;
DROP TABLE offer_facets;
DROP TABLE offer_targets;
DROP TABLE offers;
