-- A grant's tracks and recordings are its slice's: the slice is frozen when the
-- deal executes and a slice's sets never change, so the grant reads them from
-- there (joined on grants.slice_id) instead of keeping a copy. A 1.5M-track grant
-- no longer writes another 5 MB in the signing transaction, and the grants rows
-- that conflict checks scan no longer carry their sets.
ALTER TABLE grants DROP COLUMN tracks, DROP COLUMN recordings;
