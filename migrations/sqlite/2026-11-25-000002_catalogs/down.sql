DROP TABLE slices;
DROP TABLE catalog_postings;
DROP TABLE tracks;
DROP TABLE catalogs;
