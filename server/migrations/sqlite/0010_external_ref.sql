-- A request filed by another system carries its own reference (an HR case number): shown,
-- searchable, and the key that makes filing it twice return the first request.
ALTER TABLE requests ADD COLUMN external_ref TEXT;
CREATE UNIQUE INDEX requests_external_ref ON requests (external_ref) WHERE external_ref IS NOT NULL;
