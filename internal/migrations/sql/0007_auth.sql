-- The auth server's state, shared by every replica: users and their
-- identities, sessions and refresh-token families, one-time tokens (stored
-- hashed), OAuth/PKCE flow state, MFA factors and challenges, API keys,
-- editable email templates, rate-limit counters and the audit log.
--
-- Table and column names follow GoTrue's where an application may refer to
-- them (auth.users.id, raw_user_meta_data, ...), so that SQL written for
-- Supabase (foreign keys to auth.users, triggers on new users) works here.
-- Everything is owner-only: the auth server reaches it through the admin
-- pool; the API roles see nothing but the helper functions.

create table auth.users (
    id                   uuid primary key default gen_random_uuid(),
    aud                  text not null default 'authenticated',
    role                 text not null default 'authenticated',
    email                text,
    encrypted_password   text,
    email_confirmed_at   timestamptz,
    invited_at           timestamptz,
    confirmation_sent_at timestamptz,
    recovery_sent_at     timestamptz,
    email_change         text,
    email_change_sent_at timestamptz,
    last_sign_in_at      timestamptz,
    raw_app_meta_data    jsonb not null default '{}',
    raw_user_meta_data   jsonb not null default '{}',
    is_super_admin       boolean,
    phone                text,
    phone_confirmed_at   timestamptz,
    phone_change         text,
    phone_change_sent_at timestamptz,
    confirmed_at         timestamptz generated always as (least(email_confirmed_at, phone_confirmed_at)) stored,
    banned_until         timestamptz,
    reauthentication_sent_at timestamptz,
    is_sso_user          boolean not null default false,
    is_anonymous         boolean not null default false,
    deleted_at           timestamptz,
    created_at           timestamptz not null default now(),
    updated_at           timestamptz not null default now(),
    constraint users_email_lower check (email is null or email = lower(email)),
    constraint users_email_length check (email is null or length(email) <= 320),
    constraint users_phone_length check (phone is null or length(phone) <= 32)
);

create unique index users_email_key on auth.users (email) where email is not null;
create unique index users_phone_key on auth.users (phone) where phone is not null;
create index users_created_at_idx on auth.users (created_at, id);

comment on table auth.users is 'The users of the application. Owner only; applications reference auth.users(id).';

-- An identity is one way of signing in as a user: "email" for passwords,
-- magic links and OTP, or an OAuth/OIDC provider with its subject.
create table auth.identities (
    id              uuid primary key default gen_random_uuid(),
    user_id         uuid not null references auth.users (id) on delete cascade,
    provider        text not null,
    provider_id     text not null,
    identity_data   jsonb not null default '{}',
    email           text generated always as (lower(identity_data ->> 'email')) stored,
    last_sign_in_at timestamptz,
    created_at      timestamptz not null default now(),
    updated_at      timestamptz not null default now(),
    constraint identities_provider_id_key unique (provider_id, provider)
);
create index identities_user_id_idx on auth.identities (user_id);
create index identities_email_idx on auth.identities (email);

-- A session is one signed-in device. Deleting it ends it: its refresh
-- tokens go with it and the access tokens naming it stop passing the
-- session check.
create table auth.sessions (
    id           uuid primary key default gen_random_uuid(),
    user_id      uuid not null references auth.users (id) on delete cascade,
    aal          text not null default 'aal1' check (aal in ('aal1', 'aal2', 'aal3')),
    -- The authentication methods used so far, as the amr claim lists them:
    -- [{"method": "password", "timestamp": 1700000000}, ...].
    amr          jsonb not null default '[]',
    factor_id    uuid,
    not_after    timestamptz,
    refreshed_at timestamptz,
    user_agent   text,
    ip           inet,
    created_at   timestamptz not null default now(),
    updated_at   timestamptz not null default now()
);
create index sessions_user_id_idx on auth.sessions (user_id, created_at);
create index sessions_not_after_idx on auth.sessions (not_after) where not_after is not null;

-- Refresh tokens form one family per session: each rotation revokes the
-- token presented and issues a child. Tokens are looked up by their SHA-256
-- hash; the active token is also kept encrypted (token_enc) so that a
-- concurrent refresh of its parent can be answered with it instead of
-- failing.
create table auth.refresh_tokens (
    id         bigint generated always as identity primary key,
    token_hash bytea not null unique,
    token_enc  text,
    session_id uuid not null references auth.sessions (id) on delete cascade,
    user_id    uuid not null references auth.users (id) on delete cascade,
    parent_id  bigint references auth.refresh_tokens (id) on delete set null,
    revoked    boolean not null default false,
    created_at timestamptz not null default now(),
    updated_at timestamptz not null default now()
);
create index refresh_tokens_session_idx on auth.refresh_tokens (session_id, id) where not revoked;
create index refresh_tokens_parent_idx on auth.refresh_tokens (parent_id);

-- One-time tokens: email confirmation, magic links, OTP codes, recovery,
-- email change, invites, reauthentication. Stored as SHA-256 hashes; a
-- token is deleted when used.
create table auth.one_time_tokens (
    id         uuid primary key default gen_random_uuid(),
    user_id    uuid not null references auth.users (id) on delete cascade,
    token_type text not null check (token_type in (
                   'confirmation', 'magiclink', 'otp', 'recovery', 'invite',
                   'email_change_current', 'email_change_new', 'phone_change',
                   'reauthentication', 'signup')),
    token_hash bytea not null,
    -- The address (email or phone) the token was sent to.
    relates_to text not null,
    -- PKCE: the challenge a later /token?grant_type=pkce must answer.
    flow_state_id uuid,
    redirect_to text,
    attempts   integer not null default 0,
    expires_at timestamptz not null,
    created_at timestamptz not null default now(),
    constraint one_time_tokens_hash_key unique (token_hash, token_type)
);
create index one_time_tokens_user_idx on auth.one_time_tokens (user_id, token_type);
create index one_time_tokens_relates_idx on auth.one_time_tokens (relates_to, token_type);
create index one_time_tokens_expires_idx on auth.one_time_tokens (expires_at);

-- OAuth and PKCE flow state, kept here rather than in a cookie or memory so
-- that any replica can finish a flow another one started.
create table auth.flow_state (
    id                     uuid primary key default gen_random_uuid(),
    user_id                uuid references auth.users (id) on delete cascade,
    -- The opaque state parameter sent to the provider (hash of it).
    state_hash             bytea unique,
    -- The authorization code handed to the client for grant_type=pkce (hash).
    auth_code_hash         bytea unique,
    code_challenge         text,
    code_challenge_method  text check (code_challenge_method in ('s256', 'plain')),
    provider               text not null,
    -- The PKCE verifier Fluxbase itself sends to the provider, and the OIDC
    -- nonce, encrypted with the secrets key.
    provider_verifier      text,
    nonce                  text,
    redirect_to            text,
    provider_access_token  text,
    provider_refresh_token text,
    authentication_method  text not null default 'oauth',
    link_user_id           uuid references auth.users (id) on delete cascade,
    auth_code_issued_at    timestamptz,
    expires_at             timestamptz not null,
    created_at             timestamptz not null default now(),
    updated_at             timestamptz not null default now()
);
create index flow_state_expires_idx on auth.flow_state (expires_at);

-- OAuth and OIDC providers configured at run time (in addition to those in
-- the configuration file). Client secrets are encrypted at rest.
create table auth.oauth_providers (
    name              text primary key check (name ~ '^[a-z][a-z0-9_-]{0,62}$'),
    kind              text not null check (kind in ('preset', 'oidc', 'oauth2')),
    enabled           boolean not null default true,
    client_id         text not null,
    client_secret_enc text,
    issuer            text,
    authorization_url text,
    token_url         text,
    userinfo_url      text,
    scopes            text[] not null default '{}',
    redirect_uri      text,
    -- Where to find the user's fields in the userinfo answer, for oauth2.
    claim_mapping     jsonb not null default '{}',
    created_at        timestamptz not null default now(),
    updated_at        timestamptz not null default now()
);

create table auth.mfa_factors (
    id            uuid primary key default gen_random_uuid(),
    user_id       uuid not null references auth.users (id) on delete cascade,
    friendly_name text,
    factor_type   text not null default 'totp' check (factor_type in ('totp', 'phone')),
    status        text not null default 'unverified' check (status in ('unverified', 'verified')),
    -- The TOTP seed, encrypted with the secrets key.
    secret_enc    text,
    phone         text,
    -- The last TOTP time step accepted, so that a code is never used twice.
    last_used_step bigint,
    last_challenged_at timestamptz,
    created_at    timestamptz not null default now(),
    updated_at    timestamptz not null default now()
);
create index mfa_factors_user_idx on auth.mfa_factors (user_id, created_at);
create unique index mfa_factors_user_friendly_name on auth.mfa_factors (user_id, friendly_name)
    where friendly_name is not null and friendly_name <> '';

create table auth.mfa_challenges (
    id          uuid primary key default gen_random_uuid(),
    factor_id   uuid not null references auth.mfa_factors (id) on delete cascade,
    ip_address  inet,
    otp_code_hash bytea,
    verified_at timestamptz,
    created_at  timestamptz not null default now()
);
create index mfa_challenges_factor_idx on auth.mfa_challenges (factor_id, created_at);

-- API keys: "fbk_" followed by random characters, shown once. Only the
-- SHA-256 hash is stored; key_prefix (the first characters) identifies a
-- key in listings.
create table auth.api_keys (
    id            uuid primary key default gen_random_uuid(),
    name          text not null check (length(name) between 1 and 200),
    description   text not null default '',
    key_prefix    text not null,
    key_hash      bytea not null unique,
    scopes        text[] not null default '{}' check (scopes <@ array[
                      'read:tables', 'write:tables', 'read:storage', 'write:storage',
                      'read:functions', 'execute:functions', 'read:auth', 'write:auth']::text[]),
    -- The key acts as this user (role authenticated) or, without one, as
    -- the role named (service_role keys are created by administrators).
    user_id       uuid references auth.users (id) on delete cascade,
    role          text not null default 'authenticated' check (role in ('anon', 'authenticated', 'service_role')),
    rate_limit_per_minute integer check (rate_limit_per_minute is null or rate_limit_per_minute > 0),
    expires_at    timestamptz,
    revoked_at    timestamptz,
    last_used_at  timestamptz,
    created_by    uuid references auth.users (id) on delete set null,
    created_at    timestamptz not null default now(),
    updated_at    timestamptz not null default now(),
    constraint api_keys_user_role check (user_id is null or role = 'authenticated')
);
create index api_keys_user_idx on auth.api_keys (user_id, created_at);

-- Email templates an operator may edit; a missing row means the built-in
-- default.
create table auth.email_templates (
    name       text primary key check (name in (
                   'confirmation', 'magic_link', 'otp', 'recovery', 'email_change', 'invite', 'reauthentication')),
    subject    text not null,
    body_html  text not null,
    body_text  text not null default '',
    updated_at timestamptz not null default now()
);

-- Fixed-window counters for rate limits, shared by every replica so that a
-- limit holds however many replicas a client reaches.
create unlogged table auth.rate_limits (
    key          text not null,
    window_start timestamptz not null,
    hits         integer not null default 0,
    primary key (key, window_start)
);

-- Failed password sign-ins per account: the backoff against guessing.
create table auth.sign_in_failures (
    account      text primary key,
    failures     integer not null default 0,
    last_failure timestamptz not null default now(),
    locked_until timestamptz
);

create table auth.audit_log (
    id         bigint generated always as identity primary key,
    created_at timestamptz not null default now(),
    action     text not null,
    actor_id   uuid,
    actor_role text,
    user_id    uuid,
    ip         inet,
    payload    jsonb not null default '{}'
);
create index audit_log_created_idx on auth.audit_log (created_at);
create index audit_log_user_idx on auth.audit_log (user_id, created_at);

-- Custom access-token claims: when auth.hooks.custom_claims names a
-- function, it is called as fn(jsonb) returning jsonb with the event
-- {"user_id", "claims", "authentication_method"} and answers {"claims": ...}.

revoke all on all tables in schema auth from public, anon, authenticated, service_role;
