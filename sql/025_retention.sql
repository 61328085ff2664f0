-- ocppgw schema, version 25: retention of raw rows and erasure of an idTag
-- (issue 15, spec reports.md "Retention and privacy").
--
-- Retention: ocppgw_retention_delete() deletes one batch of one kind of
-- raw rows older than its retention, by primary-key range (each statement
-- reads at most p_batch ids of the primary key index), under a
-- transaction-scoped advisory lock per kind so that of several gateways
-- one deletes a kind at a time. The gateway's retention thread
-- (src/store/retention_job.c) calls it in its own short transactions,
-- repeatedly until a kind is caught up. It never deletes tables whose name
-- starts with report_ (rollups keep the aggregates after the raw rows are
-- gone), nor sessions, tokens, chargers, sites, tariffs or API keys.
--
-- Erasure: ocppgw_erase_id_tag() replaces an idTag, in every row that
-- names it, by 'erased:' + 16 hex of HMAC-SHA256(salt, lower(idTag)),
-- the salt being this installation's (table erasure_salt, made here with
-- random bytes, never in the config), and deletes its token.

-- ---------------------------------------------------------------- erasure

CREATE TABLE erasure_salt (
    one         boolean PRIMARY KEY DEFAULT true CHECK (one),   -- a single row
    salt        bytea NOT NULL CHECK (length(salt) >= 32),
    created_at  timestamptz NOT NULL DEFAULT now()
);
-- gen_random_uuid() is PostgreSQL's strong random (122 random bits each)
INSERT INTO erasure_salt (salt)
SELECT uuid_send(gen_random_uuid()) || uuid_send(gen_random_uuid())
    || uuid_send(gen_random_uuid()) || uuid_send(gen_random_uuid());

-- RFC 2104 HMAC with SHA-256 (core sha256(); no extension needed).
CREATE FUNCTION ocppgw_hmac_sha256(p_key bytea, p_msg bytea) RETURNS bytea
LANGUAGE plpgsql IMMUTABLE STRICT PARALLEL SAFE AS $$
DECLARE
    k bytea := CASE WHEN length(p_key) > 64 THEN sha256(p_key) ELSE p_key END;
    ipad bytea;
    opad bytea;
BEGIN
    k := k || decode(repeat('00', 64 - length(k)), 'hex');
    ipad := k;
    opad := k;
    FOR i IN 0..63 LOOP
        ipad := set_byte(ipad, i, get_byte(k, i) # 54);     -- 0x36
        opad := set_byte(opad, i, get_byte(k, i) # 92);     -- 0x5c
    END LOOP;
    RETURN sha256(opad || sha256(ipad || p_msg));
END $$;

-- What an erased idTag becomes: the same for every case of the tag
-- (idTags are CiString20: the gateway matches them in any case).
CREATE FUNCTION ocppgw_erased_tag(p_tag text) RETURNS text
LANGUAGE sql STABLE STRICT AS $$
    SELECT 'erased:' || left(encode(ocppgw_hmac_sha256(s.salt, convert_to(lower(p_tag), 'UTF8')), 'hex'), 16)
      FROM erasure_salt s
$$;

-- A regular expression that matches p_text literally, in any case, where
-- it is not part of a longer word (no letter or digit right before or
-- after it), so that erasing '04A1' leaves the tag '04A1B2' alone.
CREATE FUNCTION ocppgw_erase_regex(p_text text) RETURNS text
LANGUAGE sql IMMUTABLE STRICT AS $$
    SELECT '(?<![[:alnum:]])' || regexp_replace(p_text, '([^[:alnum:]])', '\\\1', 'g') || '(?![[:alnum:]])'
$$;

-- p_json with every string (and object key) matching p_re replaced by
-- p_hash; numbers, booleans and nulls are left alone.
CREATE FUNCTION ocppgw_erase_jsonb(p_json jsonb, p_re text, p_hash text) RETURNS jsonb
LANGUAGE plpgsql IMMUTABLE AS $$
BEGIN
    CASE jsonb_typeof(p_json)
    WHEN 'string' THEN
        RETURN to_jsonb(regexp_replace(p_json #>> '{}', p_re, p_hash, 'gi'));
    WHEN 'object' THEN
        RETURN (SELECT coalesce(jsonb_object_agg(regexp_replace(e.k, p_re, p_hash, 'gi'),
                                                 ocppgw_erase_jsonb(e.v, p_re, p_hash)), '{}'::jsonb)
                  FROM jsonb_each(p_json) AS e(k, v));
    WHEN 'array' THEN
        RETURN (SELECT coalesce(jsonb_agg(ocppgw_erase_jsonb(a.v, p_re, p_hash) ORDER BY a.o), '[]'::jsonb)
                  FROM jsonb_array_elements(p_json) WITH ORDINALITY AS a(v, o));
    ELSE
        RETURN p_json;
    END CASE;
END $$;

-- idTag lookups in any case (the erasure of a tag with many sessions)
CREATE INDEX sessions_id_tag_lower_idx ON sessions (lower(id_tag));
CREATE INDEX sessions_stop_id_tag_lower_idx ON sessions (lower(stop_id_tag)) WHERE stop_id_tag IS NOT NULL;

-- p_json with the JSON-escaped tag replaced in its text, when that is
-- safe (p_fast: the tag has no quote, backslash, JSON punctuation or space
-- and cannot be read as a number or a literal, so every match lies inside
-- a string or key), else through ocppgw_erase_jsonb. Twice as fast.
CREATE FUNCTION ocppgw_erase_doc(p_json jsonb, p_fast boolean, p_re text, p_rej text, p_hash text) RETURNS jsonb
LANGUAGE sql IMMUTABLE AS $$
    SELECT CASE WHEN p_json IS NULL THEN NULL
                WHEN p_fast THEN regexp_replace(p_json::text, p_rej, p_hash, 'gi')::jsonb
                ELSE ocppgw_erase_jsonb(p_json, p_re, p_hash) END
$$;

-- Erases idTag p_tag (any case) everywhere: the token is deleted (its
-- token.deleted event names only the hash), and every row that names the
-- tag carries the hash instead:
--   id_tag columns (whole value): sessions.id_tag, sessions.stop_id_tag,
--     orphan_stops.id_tag (tokens.parent_id_tag of other tokens becomes
--     NULL: chargers get it as a CiString20, which the hash is not);
--   documents (every JSON string): events.data, commands.payload and
--     response, audit_log.detail, idempotency_keys.response_headers, and
--     this transaction's staged events;
--   free text: audit_log.resource, commands.error_description,
--     idempotency_keys.response_body and idempotency_key,
--     webhook_deliveries.response_body and error, charger_events.detail,
--     security_events.tech_info, data_transfers.data and message_id.
-- Free text and documents are matched where the tag is not part of a
-- longer word (ocppgw_erase_regex); the tables without an index on them
-- are read once each, a cheap ILIKE first. One transaction (the caller's).
-- Returns the answer of POST /v1/tokens/{idTag}/erase:
-- {"idTag": hash, "rows": {table: n}}.
CREATE FUNCTION ocppgw_erase_id_tag(p_tag text) RETURNS jsonb
LANGUAGE plpgsql AS $$
DECLARE
    v_hash text := ocppgw_erased_tag(p_tag);
    v_low  text := lower(p_tag);
    v_re   text := ocppgw_erase_regex(p_tag);
    -- the tag as it appears inside JSON text (escaped)
    v_json text := substr(to_json(p_tag)::text, 2, length(to_json(p_tag)::text) - 2);
    v_rej  text := ocppgw_erase_regex(v_json);
    -- ILIKE patterns: the cheap first test
    v_like  text := '%' || replace(replace(replace(p_tag, '\', '\\'), '%', '\%'), '_', '\_') || '%';
    v_likej text := '%' || replace(replace(replace(v_json, '\', '\\'), '%', '\%'), '_', '\_') || '%';
    v_fast boolean := p_tag !~ '["\\,:\[\]{}[:space:][:cntrl:]]' AND p_tag ~ '[^0-9eE.+-]'
                      AND lower(p_tag) NOT IN ('true', 'false', 'null');
    v_rows jsonb := '{}'::jsonb;
    n integer;
    m integer;
BEGIN
    IF v_hash IS NULL THEN
        RAISE EXCEPTION 'erasure_salt is empty';
    END IF;

    DELETE FROM tokens WHERE lower(id_tag) = v_low;
    GET DIAGNOSTICS n = ROW_COUNT;
    -- a parent is sent to chargers (CiString20): the hash does not fit, and
    -- the parent token is gone; the link goes
    UPDATE tokens SET parent_id_tag = NULL, updated_at = now() WHERE lower(parent_id_tag) = v_low;
    GET DIAGNOSTICS m = ROW_COUNT;
    v_rows := v_rows || jsonb_build_object('tokens', n, 'childTokens', m);

    UPDATE sessions SET id_tag = CASE WHEN lower(id_tag) = v_low THEN v_hash ELSE id_tag END,
                        stop_id_tag = CASE WHEN lower(stop_id_tag) = v_low THEN v_hash ELSE stop_id_tag END,
                        updated_at = now()
     WHERE lower(id_tag) = v_low OR (stop_id_tag IS NOT NULL AND lower(stop_id_tag) = v_low);
    GET DIAGNOSTICS n = ROW_COUNT;
    v_rows := v_rows || jsonb_build_object('sessions', n);

    UPDATE orphan_stops SET id_tag = v_hash WHERE lower(id_tag) = v_low;
    GET DIAGNOSTICS n = ROW_COUNT;
    v_rows := v_rows || jsonb_build_object('orphanStops', n);

    UPDATE events SET data = ocppgw_erase_doc(data, v_fast, v_re, v_rej, v_hash)
     WHERE data::text ILIKE v_likej AND data::text ~* v_rej;
    GET DIAGNOSTICS n = ROW_COUNT;
    v_rows := v_rows || jsonb_build_object('events', n);

    -- the events this transaction staged (the token.deleted above, the
    -- token.updated of child tokens): moved into events at commit
    IF to_regclass('pg_temp.ocppgw_events_staged') IS NOT NULL THEN
        EXECUTE 'UPDATE pg_temp.ocppgw_events_staged SET data = ocppgw_erase_jsonb(data, $1, $2)'
                ' WHERE data::text ~* $3' USING v_re, v_hash, v_rej;
    END IF;

    UPDATE commands SET payload = ocppgw_erase_doc(payload, v_fast, v_re, v_rej, v_hash),
                        response = ocppgw_erase_doc(response, v_fast, v_re, v_rej, v_hash),
                        error_description = regexp_replace(error_description, v_re, v_hash, 'gi')
     WHERE (payload::text ILIKE v_likej AND payload::text ~* v_rej)
        OR (response::text ILIKE v_likej AND response::text ~* v_rej)
        OR (error_description ILIKE v_like AND error_description ~* v_re);
    GET DIAGNOSTICS n = ROW_COUNT;
    v_rows := v_rows || jsonb_build_object('commands', n);

    UPDATE audit_log SET resource = regexp_replace(resource, v_re, v_hash, 'gi'),
                         detail = ocppgw_erase_doc(detail, v_fast, v_re, v_rej, v_hash)
     WHERE (resource ILIKE v_like AND resource ~* v_re) OR (detail::text ILIKE v_likej AND detail::text ~* v_rej);
    GET DIAGNOSTICS n = ROW_COUNT;
    v_rows := v_rows || jsonb_build_object('auditLog', n);

    UPDATE idempotency_keys
       SET idempotency_key = regexp_replace(idempotency_key, v_re, v_hash, 'gi'),
           response_body = regexp_replace(response_body, v_rej, v_hash, 'gi'),
           response_headers = ocppgw_erase_jsonb(response_headers, v_re, v_hash)
     WHERE idempotency_key ~* v_re OR response_body ~* v_rej OR response_headers::text ~* v_rej;
    GET DIAGNOSTICS n = ROW_COUNT;
    v_rows := v_rows || jsonb_build_object('idempotencyRecords', n);

    UPDATE webhook_deliveries SET response_body = regexp_replace(response_body, v_re, v_hash, 'gi'),
                                  error = regexp_replace(error, v_re, v_hash, 'gi')
     WHERE (response_body ILIKE v_like AND response_body ~* v_re) OR (error ILIKE v_like AND error ~* v_re);
    GET DIAGNOSTICS n = ROW_COUNT;
    v_rows := v_rows || jsonb_build_object('webhookDeliveries', n);

    UPDATE charger_events SET detail = regexp_replace(detail, v_re, v_hash, 'gi')
     WHERE detail ILIKE v_like AND detail ~* v_re;
    GET DIAGNOSTICS n = ROW_COUNT;
    v_rows := v_rows || jsonb_build_object('chargerEvents', n);

    UPDATE security_events SET tech_info = regexp_replace(tech_info, v_re, v_hash, 'gi')
     WHERE tech_info ILIKE v_like AND tech_info ~* v_re;
    GET DIAGNOSTICS n = ROW_COUNT;
    v_rows := v_rows || jsonb_build_object('securityEvents', n);

    UPDATE data_transfers SET data = regexp_replace(data, v_re, v_hash, 'gi'),
                              message_id = regexp_replace(message_id, v_re, v_hash, 'gi')
     WHERE (data ILIKE v_like AND data ~* v_re) OR (message_id ILIKE v_like AND message_id ~* v_re);
    GET DIAGNOSTICS n = ROW_COUNT;
    v_rows := v_rows || jsonb_build_object('dataTransfers', n);

    RETURN jsonb_build_object('idTag', v_hash, 'rows', v_rows);
END $$;

-- ---------------------------------------------------------------- retention

-- Deletes one batch of kind p_kind (a table below) older than p_keep_days
-- days: the rows among the p_batch primary-key values from the first one
-- at or after p_from. Answers deleted = -1 when another connection holds
-- the kind's claim (a transaction-scoped advisory lock: nobody waits), and
-- next_from = where the next batch starts, or NULL when the kind is caught
-- up (the range held a row within the retention, or was the table's end).
-- meter_values of a session still active stay, whatever their age.
-- commands (uuid keys): the oldest ended commands by created_at (its
-- index), next_from 0 after a full batch.
-- How far back each raw kind is still complete: the newest cut a deletion
-- used (any gateway's; the greatest). The utilization's rollups never
-- recompute from raw statuses older than this (ocppgw_util_horizon, sql/024),
-- whatever retention.status_history is.
CREATE TABLE retention_cuts (
    kind  text PRIMARY KEY,
    cut   timestamptz NOT NULL
);

CREATE OR REPLACE FUNCTION ocppgw_util_horizon() RETURNS timestamptz
LANGUAGE sql STABLE AS $$
    SELECT greatest(now() - interval '400 days',
                    (SELECT r.cut FROM retention_cuts r WHERE r.kind = 'status_history'))
$$;

CREATE FUNCTION ocppgw_retention_delete(p_kind text, p_keep_days integer, p_from bigint, p_batch integer,
                                        OUT deleted integer, OUT next_from bigint)
LANGUAGE plpgsql AS $$
DECLARE
    v_cut    timestamptz := now() - make_interval(days => p_keep_days);
    v_col    text;
    v_lo     bigint;
    v_hi     bigint;
    v_recent boolean;
BEGIN
    deleted := 0;
    next_from := NULL;
    IF starts_with(p_kind, 'report_') THEN
        RAISE EXCEPTION 'retention never deletes rollups (%)', p_kind;
    END IF;
    SELECT x.c INTO v_col
      FROM (VALUES ('meter_values', 'received_at'), ('meter_messages', 'received_at'),
                   ('status_history', 'received_at'), ('charger_events', 'at'),
                   ('security_events', 'received_at'), ('data_transfers', 'received_at'),
                   ('orphan_stops', 'received_at'), ('audit_log', 'at'),
                   ('commands', 'created_at')) AS x(t, c)
     WHERE x.t = p_kind;
    IF v_col IS NULL OR p_keep_days < 1 OR p_batch < 1 THEN
        RAISE EXCEPTION 'ocppgw_retention_delete: bad arguments (%, %, %)', p_kind, p_keep_days, p_batch;
    END IF;
    IF NOT pg_try_advisory_xact_lock(hashtextextended('ocppgw.retention:' || p_kind, 0)) THEN
        deleted := -1;
        RETURN;
    END IF;

    IF p_kind = 'commands' THEN
        DELETE FROM commands c
         WHERE c.id IN (SELECT x.id FROM commands x
                         WHERE x.created_at < v_cut AND x.state IN ('completed', 'failed')
                         ORDER BY x.created_at LIMIT p_batch);
        GET DIAGNOSTICS deleted = ROW_COUNT;
        IF deleted >= p_batch THEN
            next_from := 0;
        END IF;
        RETURN;
    END IF;

    EXECUTE format('SELECT min(id) FROM %I WHERE id >= $1', p_kind) INTO v_lo USING p_from;
    IF v_lo IS NULL THEN
        RETURN;
    END IF;
    v_hi := v_lo + p_batch;
    IF p_kind = 'meter_values' THEN
        DELETE FROM meter_values m
         WHERE m.id >= v_lo AND m.id < v_hi AND m.received_at < v_cut
           AND NOT EXISTS (SELECT 1 FROM sessions s WHERE s.id = m.session_id AND s.status = 'active');
    ELSE
        EXECUTE format('DELETE FROM %I WHERE id >= $1 AND id < $2 AND %I < $3', p_kind, v_col)
          USING v_lo, v_hi, v_cut;
    END IF;
    GET DIAGNOSTICS deleted = ROW_COUNT;
    IF deleted > 0 THEN
        INSERT INTO retention_cuts AS r (kind, cut) VALUES (p_kind, v_cut)
        ON CONFLICT (kind) DO UPDATE SET cut = greatest(r.cut, EXCLUDED.cut);
    END IF;
    EXECUTE format('SELECT EXISTS (SELECT 1 FROM %I WHERE id >= $1 AND id < $2 AND %I >= $3)', p_kind, v_col)
       INTO v_recent USING v_lo, v_hi, v_cut;
    IF NOT v_recent THEN
        next_from := v_hi;
    END IF;
END $$;
