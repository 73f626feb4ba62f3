-- File storage: buckets and objects, in the shape Supabase's storage-api
-- uses, so that policies written for Supabase Storage work unchanged.
--
-- Every request reads and writes these tables under the caller's role, so
-- row level security policies written by the user decide who may upload
-- (INSERT), overwrite (UPDATE), download, sign and list (SELECT) and delete
-- (DELETE). service_role bypasses them. Without policies, only service_role
-- can do anything.
--
-- The bytes of an object live in the configured backend under a physical
-- key (objects.version) that is unique to one upload and unrelated to the
-- object's name: a name can never address a file outside the backend's
-- root, a move is a metadata update, and an overwrite never touches the
-- bytes a concurrent download is reading.

create table storage.buckets (
  id                 text primary key
                     check (id ~ '^[A-Za-z0-9][A-Za-z0-9._ -]{0,99}$' and id not like '%..%'),
  name               text not null unique,
  owner              uuid,
  owner_id           text,
  public             boolean not null default false,
  file_size_limit    bigint check (file_size_limit is null or file_size_limit > 0),
  allowed_mime_types text[],
  created_at         timestamptz not null default now(),
  updated_at         timestamptz not null default now()
);

comment on table storage.buckets is
  'Storage buckets. public: objects readable without a token; file_size_limit in bytes; allowed_mime_types accepts wildcards such as image/*.';

create table storage.objects (
  id               uuid primary key default gen_random_uuid(),
  bucket_id        text not null references storage.buckets (id),
  -- "C" collation: names sort and compare byte by byte, so that listings
  -- page with a stable cursor and prefix matches use the unique index.
  name             text collate "C" not null
                   check (octet_length(name) between 1 and 1024 and name !~ '[\x01-\x1f\x7f]'),
  owner            uuid,
  owner_id         text,
  size             bigint not null default 0 check (size >= 0),
  mime_type        text not null default 'application/octet-stream',
  etag             text not null default '',
  cache_control    text not null default 'max-age=3600',
  user_metadata    jsonb,
  -- storage-api's metadata object ({eTag, size, mimetype, cacheControl,
  -- lastModified, contentLength, httpStatusCode}), kept in step with the
  -- columns above by a trigger so that policies may use either.
  metadata         jsonb,
  -- The physical key of the bytes in the backend.
  version          text not null,
  path_tokens      text[] generated always as (string_to_array(name, '/')) stored,
  created_at       timestamptz not null default now(),
  updated_at       timestamptz not null default now(),
  last_accessed_at timestamptz not null default now(),
  constraint objects_bucket_name unique (bucket_id, name)
);

create unique index objects_version on storage.objects (version);

comment on table storage.objects is
  'Storage objects: one row per file. version is the physical key of its bytes in the backend.';

alter table storage.buckets enable row level security;
alter table storage.objects enable row level security;

grant select, insert, update, delete on storage.buckets, storage.objects to anon, authenticated, service_role;

-- Physical keys that may be garbage: keys being written (inserted before the
-- first byte, removed by the trigger below when a row comes to reference
-- them) and keys
-- whose row was deleted or overwritten (queued by the trigger below). A key
-- whose not_before has passed and that no object references is deleted from
-- the backend by the janitor, so that interrupted uploads and crashes leave
-- no orphaned bytes. Fluxbase-internal: no grants to the API roles.
create table storage.gc (
  key        text primary key,
  not_before timestamptz not null default now(),
  created_at timestamptz not null default now()
);

create index gc_not_before on storage.gc (not_before);
revoke all on table storage.gc from public, anon, authenticated, service_role;

-- Keeps storage.gc in step with the rows, in the same transaction: the key
-- a row starts referencing is no longer garbage (its upload's reservation
-- ends when the row commits), and the key a row stops referencing (delete,
-- overwrite) is. Runs as the owner, so that callers need no privilege on
-- storage.gc.
create or replace function storage.objects_after_write() returns trigger
language plpgsql security definer
set search_path = ''
as $$
begin
  if tg_op = 'DELETE' or (tg_op = 'UPDATE' and old.version is distinct from new.version) then
    insert into storage.gc (key) values (old.version)
    on conflict (key) do update set not_before = least(storage.gc.not_before, excluded.not_before);
  end if;
  if tg_op = 'INSERT' or (tg_op = 'UPDATE' and old.version is distinct from new.version) then
    delete from storage.gc where key = new.version;
  end if;
  return null;
end
$$;

revoke all on function storage.objects_after_write() from public;

create trigger objects_after_write
  after insert or update or delete on storage.objects
  for each row execute function storage.objects_after_write();

create or replace function storage.objects_before_write() returns trigger
language plpgsql
set search_path = ''
as $$
begin
  -- Recording an access is not a modification: Last-Modified stays.
  if tg_op = 'UPDATE' then
    new.updated_at := case
      when (new.bucket_id, new.name, new.version, new.mime_type, new.cache_control, new.user_metadata, new.owner_id)
           is not distinct from
           (old.bucket_id, old.name, old.version, old.mime_type, old.cache_control, old.user_metadata, old.owner_id)
      then old.updated_at
      else now()
    end;
  end if;
  new.metadata := jsonb_build_object(
    'eTag', new.etag,
    'size', new.size,
    'mimetype', new.mime_type,
    'cacheControl', new.cache_control,
    'lastModified', to_char(new.updated_at at time zone 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.MS"Z"'),
    'contentLength', new.size,
    'httpStatusCode', 200
  );
  return new;
end
$$;

create trigger objects_before_write
  before insert or update on storage.objects
  for each row execute function storage.objects_before_write();

-- Resumable (TUS) uploads in progress. The bytes received so far live in
-- the backend under upload_key; any instance can resume an upload because
-- the progress is here. Internal: the API roles reach it only through
-- Fluxbase, which checks the caller's right to create the object under RLS.
create table storage.uploads (
  id            text primary key,
  bucket_id     text not null references storage.buckets (id) on delete cascade,
  name          text not null,
  owner         uuid,
  owner_id      text,
  role          text not null,
  claims        jsonb not null default '{}',
  size          bigint check (size is null or size >= 0),
  "offset"      bigint not null default 0 check ("offset" >= 0),
  upsert        boolean not null default false,
  mime_type     text,
  cache_control text,
  metadata      jsonb not null default '{}',
  user_metadata jsonb,
  upload_key    text not null,
  parts         jsonb not null default '[]',
  created_at    timestamptz not null default now(),
  updated_at    timestamptz not null default now(),
  expires_at    timestamptz not null
);

create index uploads_expires_at on storage.uploads (expires_at);
revoke all on table storage.uploads from public, anon, authenticated, service_role;

-- Helpers for policies, as Supabase Storage defines them:
-- foldername('a/b/c.png') = {a,b}, filename = 'c.png', extension = 'png'.
create or replace function storage.foldername(name text) returns text[]
language plpgsql immutable
set search_path = ''
as $$
declare
  parts text[];
begin
  parts := string_to_array(name, '/');
  return parts[1:array_length(parts, 1) - 1];
end
$$;

create or replace function storage.filename(name text) returns text
language plpgsql immutable
set search_path = ''
as $$
declare
  parts text[];
begin
  parts := string_to_array(name, '/');
  return parts[array_length(parts, 1)];
end
$$;

create or replace function storage.extension(name text) returns text
language plpgsql immutable
set search_path = ''
as $$
declare
  parts text[];
  base text;
begin
  parts := string_to_array(name, '/');
  base := parts[array_length(parts, 1)];
  if base is null or position('.' in base) = 0 then
    return '';
  end if;
  return reverse(split_part(reverse(base), '.', 1));
end
$$;

grant execute on function storage.foldername(text), storage.filename(text), storage.extension(text)
  to anon, authenticated, service_role;

comment on function storage.foldername(text) is 'The folders of an object name: foldername(''a/b/c.png'') = {a,b}.';
comment on function storage.filename(text) is 'The last segment of an object name: filename(''a/b/c.png'') = ''c.png''.';
comment on function storage.extension(text) is 'The extension of an object name without the dot: extension(''a/b/c.png'') = ''png''; '''' if none.';
