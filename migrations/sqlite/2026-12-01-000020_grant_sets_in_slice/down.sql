ALTER TABLE grants ADD COLUMN tracks BLOB NOT NULL DEFAULT x'';
ALTER TABLE grants ADD COLUMN recordings BLOB;
UPDATE grants SET tracks = (SELECT bitmap FROM slices WHERE slices.id = grants.slice_id),
                  recordings = (SELECT recordings FROM slices WHERE slices.id = grants.slice_id);
