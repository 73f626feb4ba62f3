-- The transactional mail outbox. A request that mails something (a
-- confirmation, magic link, OTP, recovery, email change or invite) inserts
-- the rendered message here in the transaction that stores its one-time
-- token, and answers; a worker in every replica claims due rows with
-- FOR UPDATE SKIP LOCKED, sends them over SMTP and marks them sent. A crash
-- or an SMTP outage therefore never loses an acknowledged mail, and the
-- answer does not wait for the mail server.
--
-- The message (subject and bodies, which carry the one-time secrets) is
-- encrypted with the auth secrets key, bound to the row id, and erased once
-- sent. Rows in state 'dropped' record a request that sent nothing (no such
-- account, or a banned one); they carry no message.
create table auth.mail_outbox (
    id              uuid primary key,
    kind            text not null,
    recipient       text not null,
    user_id         uuid references auth.users (id) on delete cascade,
    state           text not null default 'pending'
                    check (state in ('pending', 'sent', 'failed', 'dropped')),
    message         text,
    attempts        integer not null default 0,
    -- When the row may next be claimed: now for a new message, the retry
    -- time after a failure, the end of the lease while a worker sends it.
    next_attempt_at timestamptz not null default now(),
    last_error      text,
    created_at      timestamptz not null default now(),
    sent_at         timestamptz,
    updated_at      timestamptz not null default now(),
    constraint mail_outbox_message_check check (state <> 'pending' or message is not null)
);
create index mail_outbox_due_idx on auth.mail_outbox (next_attempt_at) where state = 'pending';
create index mail_outbox_updated_idx on auth.mail_outbox (updated_at) where state <> 'pending';

revoke all on auth.mail_outbox from public, anon, authenticated, service_role;
