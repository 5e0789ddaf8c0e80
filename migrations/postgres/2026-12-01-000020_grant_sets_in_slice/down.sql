ALTER TABLE grants ADD COLUMN tracks BYTEA NOT NULL DEFAULT '\x',
                   ADD COLUMN recordings BYTEA;
UPDATE grants SET tracks = slices.bitmap, recordings = slices.recordings
  FROM slices WHERE slices.id = grants.slice_id;
ALTER TABLE grants ALTER COLUMN tracks SET STORAGE EXTERNAL,
                   ALTER COLUMN recordings SET STORAGE EXTERNAL;
