-- Track and recording sets are Roaring bitmaps: already compact, and incompressible
-- to pglz, which nonetheless tries every large value before giving up. At 15M
-- tracks a grant's two sets are ~5 MB and that futile attempt cost ~240 ms per
-- executing signature (docs/performance.md). EXTERNAL keeps large values out of
-- line, uncompressed. It applies to values written from now on.
ALTER TABLE grants ALTER COLUMN tracks SET STORAGE EXTERNAL,
                   ALTER COLUMN recordings SET STORAGE EXTERNAL;
ALTER TABLE slices ALTER COLUMN bitmap SET STORAGE EXTERNAL,
                   ALTER COLUMN recordings SET STORAGE EXTERNAL;
ALTER TABLE catalogs ALTER COLUMN recordings SET STORAGE EXTERNAL;
ALTER TABLE catalog_postings ALTER COLUMN bitmap SET STORAGE EXTERNAL;
ALTER TABLE backing_losses ALTER COLUMN recordings SET STORAGE EXTERNAL;
