-- Resumable uploads: a lease on finishing an upload. The request that
-- claims a complete upload (its last PATCH, or a HEAD after the instance
-- finishing it stopped) sets finishing_until and renews it while it joins
-- the parts and creates the object; another request may take over only once
-- the lease has lapsed, so an upload becomes its object once.
alter table storage.uploads add column finishing_until timestamptz;

comment on column storage.uploads.finishing_until is
  'While set and in the future, a request is turning this complete upload into its object.';
