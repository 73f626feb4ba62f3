-- Secrets Fluxbase generates for itself and shares between replicas, such as
-- the authenticator's password. Readable by the owner only.

create table if not exists fluxbase.secrets (
  name       text primary key,
  value      text not null,
  created_at timestamptz not null default now()
);

revoke all on table fluxbase.secrets from public;
