-- API keys may carry write:realtime, which lets a server broadcast through
-- POST /api/v1/realtime/broadcast without the service_role key.
alter table auth.api_keys drop constraint api_keys_scopes_check;
alter table auth.api_keys add constraint api_keys_scopes_check check (scopes <@ array[
    'read:tables', 'write:tables', 'read:storage', 'write:storage',
    'read:functions', 'execute:functions', 'read:auth', 'write:auth',
    'write:realtime']::text[]);
