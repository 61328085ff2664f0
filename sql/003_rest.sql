-- ocppgw schema, version 3: what the REST framework keeps in PostgreSQL.

-- The gateway's API key cache follows this table: every change that matters
-- to authentication is announced, whoever made it (the REST API in this
-- process or another, `ocppgw apikey revoke`, psql). A key that can no
-- longer be used is announced as "<id> gone" so that the gateway can drop it
-- without reading the row back.
CREATE FUNCTION ocppgw_notify_apikey() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
    IF TG_OP = 'DELETE' THEN
        PERFORM pg_notify('ocppgw_apikey', OLD.id::text || ' gone');
        RETURN OLD;
    END IF;
    PERFORM pg_notify('ocppgw_apikey',
                      NEW.id::text || CASE WHEN NEW.revoked_at IS NOT NULL
                                           OR NEW.expires_at <= now() THEN ' gone' ELSE '' END);
    RETURN NEW;
END $$;

CREATE TRIGGER api_keys_notify_ins_del AFTER INSERT OR DELETE ON api_keys
    FOR EACH ROW EXECUTE FUNCTION ocppgw_notify_apikey();
-- not last_used_at: the gateway writes it behind, in batches
CREATE TRIGGER api_keys_notify_upd
    AFTER UPDATE OF name, key_hash, scopes, charger_ids, site_ids, expires_at, revoked_at
    ON api_keys FOR EACH ROW EXECUTE FUNCTION ocppgw_notify_apikey();

-- Idempotency-Key of POST requests, per API key. A row is claimed
-- (in_progress) by one atomic INSERT ... ON CONFLICT DO NOTHING before the
-- handler acts, and completed (done) with the reply before the reply is
-- sent; a retry with the same key and the same request replays status,
-- body and the headers that matter (Location). Kept at least 24 hours.
CREATE TABLE idempotency_keys (
    api_key_id        bigint NOT NULL,
    idempotency_key   text NOT NULL CHECK (length(idempotency_key) BETWEEN 1 AND 255),
    fingerprint       text NOT NULL,        -- hex SHA-256 of method, path, query and body
    state             text NOT NULL DEFAULT 'in_progress' CHECK (state IN ('in_progress', 'done')),
    status            integer,
    response_body     text,
    response_headers  jsonb,                -- {"Location": "/v1/..."}
    request_id        text,
    created_at        timestamptz NOT NULL DEFAULT now(),
    completed_at      timestamptz,
    PRIMARY KEY (api_key_id, idempotency_key)
);
CREATE INDEX idempotency_keys_created_idx ON idempotency_keys (created_at);
