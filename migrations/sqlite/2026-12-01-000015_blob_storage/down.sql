-- PostgreSQL's migration of this number stops pglz from trying to compress the
-- (incompressible) Roaring sets; SQLite never compresses blobs. Kept so both
-- backends carry the same migration list.
SELECT 1;
