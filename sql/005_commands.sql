-- ocppgw schema, version 5: commands (issue 4, docs/commands-design.md).
--
-- One row per gateway-initiated CALL asked for through REST. The core
-- writes it behind (STORE_OP_COMMAND, src/store/pg.c) when the command is
-- created and again when it ends: one upsert by id, which never turns an
-- ended row back into a pending one. No foreign key to chargers: the
-- history outlives a deleted charger.

CREATE TABLE commands (
    id                 uuid PRIMARY KEY,            -- UUIDv7 made by the core
    charger_id         text NOT NULL,
    action             text NOT NULL,               -- "Reset"
    payload            jsonb NOT NULL,              -- what was sent
    state              text NOT NULL
                       CHECK (state IN ('queued', 'sent', 'awaitingSession', 'completed', 'failed')),
    outcome            text                         -- NULL while pending
                       CHECK (outcome IN ('answered', 'callError', 'timeout', 'disconnected',
                                          'invalidAnswer', 'cancelled')),
    response           jsonb,                       -- CALLRESULT payload
    response_status    text,                        -- its "status"
    error_code         text,                        -- CALLERROR code
    error_description  text,                        -- CALLERROR description, or why an answer was invalid
    session_id         bigint,                      -- remote start: the session it produced; remote stop: the session
    transaction_id     integer,
    api_key_id         bigint,                      -- who asked
    request_id         text,                        -- X-Request-Id
    created_at         timestamptz NOT NULL,
    sent_at            timestamptz,
    answered_at        timestamptz,
    completed_at       timestamptz
);

-- GET /v1/chargers/{id}/commands (newest first), and a future global list.
CREATE INDEX commands_charger_created_idx ON commands (charger_id, created_at DESC, id DESC);
CREATE INDEX commands_created_idx ON commands (created_at DESC, id DESC);

-- The low 64 bits of a uuid as a bigint (two's complement). REST cursors
-- carry a 64-bit row id, so the command pages break created_at ties with
-- this (62 random bits of a UUIDv7) rather than with the whole uuid. The
-- keyset condition (created_at, ocppgw_uuid_lo(id)) < (...) still uses the
-- indexes above on created_at; only rows sharing a created_at are sorted.
CREATE FUNCTION ocppgw_uuid_lo(u uuid) RETURNS bigint
LANGUAGE sql IMMUTABLE STRICT PARALLEL SAFE
AS $$ SELECT ('x' || replace(right(u::text, 17), '-', ''))::bit(64)::bigint $$;
