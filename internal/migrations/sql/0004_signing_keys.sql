-- Signing keys of the tokens Fluxbase mints, shared by every replica.
--
-- One key is 'current' and signs; 'previous' keys no longer sign but still
-- verify the tokens they signed and stay published in the JWKS until they
-- are revoked; 'revoked' keys do neither and keep no private half. The kid is
-- the RFC 7638 JWK thumbprint of the public key.
--
-- The anon and service_role API keys minted with the current key are stored
-- next to it because ES256 signatures are randomized: minting them again at
-- every start would hand out a different key each time.
--
-- An HS256 secret (Supabase-style legacy keys) comes from the configuration
-- and is never stored here.
create table fluxbase.signing_keys (
    kid              text primary key,
    algorithm        text not null check (algorithm in ('ES256')),
    private_key      text,            -- PKCS#8 PEM
    public_key       text not null,   -- PKIX PEM
    status           text not null default 'current'
                     check (status in ('current', 'previous', 'revoked')),
    anon_key         text,
    service_role_key text,
    created_at       timestamptz not null default now(),
    rotated_at       timestamptz,
    revoked_at       timestamptz,
    constraint signing_keys_private_unless_revoked
        check (status = 'revoked' or private_key is not null),
    constraint signing_keys_revoked_keeps_no_secret
        check (status <> 'revoked' or (private_key is null and anon_key is null and service_role_key is null))
);

-- At most one key signs at a time, whatever the replicas race to do.
create unique index signing_keys_one_current on fluxbase.signing_keys (status) where status = 'current';

-- Private keys and the service_role key: owner only.
revoke all on table fluxbase.signing_keys from public, anon, authenticated, service_role;

comment on table fluxbase.signing_keys is
    'Token signing keys (current signs; current and previous verify and are published in the JWKS). Owner only.';
