-- ocppgw schema, version 13: webhook endpoints and their deliveries
-- (../shared/spec/events.md, "Webhooks"; the delivery thread is
-- src/webhook/, docs/architecture.md "Threads").
--
-- Fan-out: ocppgw_events_committed (011's hook, called inside the
-- transaction that commits the events, under the events lock) inserts one
-- pending delivery per matching enabled endpoint, so a committed event
-- always has its deliveries and a rolled-back one never does.
--
-- Delivery: any number of gateways claim due deliveries with
-- ocppgw_webhook_claim (FOR UPDATE SKIP LOCKED, a lease: claimed_by,
-- claimed_until), send them, and record the outcomes with
-- ocppgw_webhook_record (only where the claim is still theirs). A gateway
-- killed with claims outstanding loses nothing: its leases run out and the
-- deliveries are claimed again (at least once).
--
-- Order: a lane is (endpoint, charger); events without a charger share the
-- lane ''. Only the head of a lane (its pending delivery of lowest seq) is
-- ever claimed (the claim's NOT EXISTS), so a charger's later event waits
-- while an earlier one is in flight or waiting for a retry, and other
-- lanes go on. So that the claim's scan of due rows meets heads only, a
-- row added behind a pending one waits at 'infinity', and when a head ends
-- the next row of its lane is made due (the record's "pull", a statement
-- of its own, so it sees rows committed while it waited). The fan-out
-- never waits for a row the delivery thread holds (SKIP LOCKED): when it
-- cannot tell, the new row is due, which costs the claim a look, never
-- order. A sweep (ocppgw_webhook_unstick) makes due any lane whose head
-- was left waiting anyway.

-- A new endpoint secret: "whsec_" + base64 of 32 random bytes (SHA-256 over
-- three version-4 UUIDs, 366 bits from the server's strong random source).
CREATE FUNCTION ocppgw_webhook_secret_new() RETURNS text
LANGUAGE sql VOLATILE AS $$
    SELECT 'whsec_' || encode(sha256(uuid_send(gen_random_uuid()) || uuid_send(gen_random_uuid())
                                     || uuid_send(gen_random_uuid())), 'base64');
$$;

CREATE TABLE webhook_endpoints (
    id                     uuid PRIMARY KEY DEFAULT ocppgw_uuid7(),
    url                    text NOT NULL CHECK (url ~ '^https?://' AND length(url) <= 2048),
    types                  text[] NOT NULL,
    charger_ids            text[],          -- filter: NULL = every charger
    site_ids               text[],          -- filter: NULL = every site
    -- the creating key's restriction (both NULL: none): an event is delivered
    -- only if its charger is one of key_charger_ids or on one of key_site_ids
    key_charger_ids        text[],
    key_site_ids           text[],
    created_by             bigint,          -- api_keys.id
    description            text,
    enabled                boolean NOT NULL DEFAULT true,
    disabled_reason        text,
    -- "whsec_" + base64 of 32 random bytes, made here (never a statement
    -- parameter, so never in a statement log); never returned after the
    -- answer that made it
    secret                 text NOT NULL DEFAULT ocppgw_webhook_secret_new(),
    previous_secret        text,            -- still signs until previous_secret_until
    previous_secret_until  timestamptz,
    failing_since          timestamptz,     -- first failed attempt since the last success
    created_at             timestamptz NOT NULL DEFAULT now(),
    updated_at             timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX webhook_endpoints_created_idx ON webhook_endpoints (created_at, id);

CREATE TABLE webhook_deliveries (
    id               bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    endpoint_id      uuid NOT NULL REFERENCES webhook_endpoints (id) ON DELETE CASCADE,
    event_seq        bigint NOT NULL REFERENCES events (seq) ON DELETE CASCADE,
    charger_id       text,                  -- the event's: its lane
    state            text NOT NULL DEFAULT 'pending' CHECK (state IN ('pending', 'delivered', 'failed')),
    attempt          integer NOT NULL DEFAULT 0,        -- attempts started (claims)
    next_attempt_at  timestamptz NOT NULL DEFAULT now(),
    claimed_by       text,                  -- the gateway sending it now
    claimed_until    timestamptz,           -- its lease
    status_code      integer,               -- of the last attempt (NULL: no HTTP answer)
    latency_ms       integer,
    error            text,
    response_body    text,                  -- the first 64 KiB
    last_attempt_at  timestamptz,
    delivered_at     timestamptz,
    created_at       timestamptz NOT NULL DEFAULT now()
);
-- the claim: due heads
CREATE INDEX webhook_deliveries_due_idx ON webhook_deliveries (next_attempt_at) WHERE state = 'pending';
-- lanes: the head of (endpoint, charger), and the rows behind it
CREATE INDEX webhook_deliveries_lane_idx ON webhook_deliveries (endpoint_id, (coalesce(charger_id, '')), event_seq, id)
    WHERE state = 'pending';
-- GET /v1/webhook-endpoints/{id}/deliveries, newest first
CREATE INDEX webhook_deliveries_endpoint_idx ON webhook_deliveries (endpoint_id, id);
-- retention of events cascades here
CREATE INDEX webhook_deliveries_event_idx ON webhook_deliveries (event_seq);

-- Whether a subscription's types match an event type: exactly, or by
-- "prefix.*" / "*"; no wildcard matches meter_values.received (events.md).
-- The same rule as event_type_matches() in C (src/model/event_types.c).
CREATE FUNCTION ocppgw_webhook_type_matches(p_types text[], p_type text) RETURNS boolean
LANGUAGE sql IMMUTABLE PARALLEL SAFE AS $$
    SELECT EXISTS (SELECT 1 FROM unnest(p_types) t(p)
                   WHERE t.p = p_type
                      OR (p_type <> 'meter_values.received'
                          AND (t.p = '*' OR (right(t.p, 2) = '.*' AND starts_with(p_type, left(t.p, -1))))));
$$;

-- Whether endpoint w receives event e: its types, its filters, and the
-- restriction of the key that made it.
CREATE FUNCTION ocppgw_webhook_matches(w webhook_endpoints, e events) RETURNS boolean
LANGUAGE sql STABLE AS $$
    SELECT ocppgw_webhook_type_matches(w.types, e.type)
       AND (w.charger_ids IS NULL OR e.charger_id = ANY (w.charger_ids))
       AND (w.site_ids IS NULL OR e.site_id = ANY (w.site_ids))
       AND ((w.key_charger_ids IS NULL AND w.key_site_ids IS NULL)
            OR coalesce(e.charger_id = ANY (w.key_charger_ids), false)
            OR coalesce(e.site_id = ANY (w.key_site_ids), false));
$$;

-- Whether a key sees an endpoint (REST). p_key: '' for a key without
-- restriction, else {"chargerIds": [...] | null, "siteIds": [...] | null}.
-- A restricted key sees the endpoints made by restricted keys whose
-- chargers and sites are among its own.
CREATE FUNCTION ocppgw_webhook_visible(p_chargers text[], p_sites text[], p_key text) RETURNS boolean
LANGUAGE sql IMMUTABLE AS $$
    SELECT p_key = ''
        OR ((p_chargers IS NOT NULL OR p_sites IS NOT NULL)
            AND coalesce(p_chargers, '{}') <@ ARRAY(SELECT jsonb_array_elements_text(
                    coalesce(nullif(p_key::jsonb -> 'chargerIds', 'null'), '[]')))
            AND coalesce(p_sites, '{}') <@ ARRAY(SELECT jsonb_array_elements_text(
                    coalesce(nullif(p_key::jsonb -> 'siteIds', 'null'), '[]'))));
$$;

-- meter_values.received is stored only while an enabled endpoint names it
-- (events.md: the fleet's write rate pays for it only when someone listens).
CREATE OR REPLACE FUNCTION ocppgw_event_wanted(p_type text) RETURNS boolean
LANGUAGE sql STABLE AS $$
    SELECT p_type <> 'meter_values.received'
        OR EXISTS (SELECT 1 FROM webhook_endpoints w
                   WHERE w.enabled AND 'meter_values.received' = ANY (w.types));
$$;

-- The fan-out: one pending delivery per matching enabled endpoint and event
-- of the range just committed, in seq order. The first of a lane is due
-- now unless a pending row is ahead of it (share-locked so that a head
-- ending meanwhile waits for this commit and then sees the new row);
-- the others wait.
CREATE OR REPLACE FUNCTION ocppgw_events_committed(p_from bigint, p_to bigint) RETURNS void
LANGUAGE plpgsql AS $$
BEGIN
    IF NOT EXISTS (SELECT 1 FROM webhook_endpoints WHERE enabled) THEN
        RETURN;
    END IF;
    INSERT INTO webhook_deliveries (endpoint_id, event_seq, charger_id, next_attempt_at)
    SELECT x.endpoint_id, x.seq, x.charger_id,
           CASE WHEN x.rn = 1 AND NOT EXISTS (
                    SELECT 1 FROM webhook_deliveries h
                    WHERE h.endpoint_id = x.endpoint_id AND coalesce(h.charger_id, '') = x.lane
                      AND h.state = 'pending'
                    FOR SHARE SKIP LOCKED)
                THEN now() ELSE 'infinity' END
    FROM (SELECT w.id AS endpoint_id, e.seq, e.charger_id, coalesce(e.charger_id, '') AS lane,
                 row_number() OVER (PARTITION BY w.id, coalesce(e.charger_id, '') ORDER BY e.seq) AS rn
          FROM events e
          JOIN webhook_endpoints w ON w.enabled AND ocppgw_webhook_matches(w, e)
          WHERE e.seq BETWEEN p_from AND p_to) x
    ORDER BY x.seq, x.endpoint_id;
END;
$$;

-- The safety net of the lanes (the delivery thread runs it now and then):
-- a lane whose oldest pending row still waits at 'infinity' is made due.
CREATE FUNCTION ocppgw_webhook_unstick() RETURNS integer
LANGUAGE sql AS $$
    WITH u AS (
        UPDATE webhook_deliveries d SET next_attempt_at = now()
        WHERE d.state = 'pending' AND d.next_attempt_at = 'infinity'
          AND NOT EXISTS (SELECT 1 FROM webhook_deliveries p
                          WHERE p.endpoint_id = d.endpoint_id
                            AND coalesce(p.charger_id, '') = coalesce(d.charger_id, '')
                            AND p.state = 'pending' AND (p.event_seq, p.id) < (d.event_seq, d.id))
        RETURNING 1
    )
    SELECT count(*)::integer FROM u;
$$;

-- Claims up to p_limit due lane heads for node p_node for p_lease_s
-- seconds, at most p_room[i] of endpoint p_eps[i] (p_default for the
-- others), and returns what sending them needs. attempt counts the claim.
CREATE FUNCTION ocppgw_webhook_claim(p_node text, p_lease_s integer, p_limit integer,
                                     p_eps uuid[], p_room integer[], p_default integer)
RETURNS TABLE (delivery_id bigint, endpoint_id uuid, attempt integer, url text, secret text,
               previous_secret text, event_id uuid, seq bigint, type text, created_us bigint,
               occurred_us bigint, charger_id text, site_id text, data text)
LANGUAGE plpgsql AS $$
#variable_conflict use_column
BEGIN
    -- plpgsql, not sql: its plan is kept for the session (the thread calls it every turn)
    RETURN QUERY
    WITH cand AS (
        SELECT d.id, d.endpoint_id, d.next_attempt_at
        FROM webhook_deliveries d
        WHERE d.state = 'pending' AND d.next_attempt_at <= now()
          AND (d.claimed_until IS NULL OR d.claimed_until < now())
          AND coalesce(p_room[array_position(p_eps, d.endpoint_id)], p_default) > 0
          AND NOT EXISTS (SELECT 1 FROM webhook_deliveries p
                          WHERE p.endpoint_id = d.endpoint_id
                            AND coalesce(p.charger_id, '') = coalesce(d.charger_id, '')
                            AND p.state = 'pending' AND (p.event_seq, p.id) < (d.event_seq, d.id))
        ORDER BY d.next_attempt_at
        LIMIT p_limit
        FOR UPDATE OF d SKIP LOCKED
    ), pick AS (
        SELECT c.id FROM (SELECT c.id, c.endpoint_id,
                                 row_number() OVER (PARTITION BY c.endpoint_id ORDER BY c.next_attempt_at, c.id) AS rn
                          FROM cand c) c
        WHERE c.rn <= coalesce(p_room[array_position(p_eps, c.endpoint_id)], p_default)
    )
    UPDATE webhook_deliveries d
    -- next_attempt_at moves to the lease's end too: in flight, the row leaves the
    -- claim's due range, and comes back to it by itself if the lease runs out
    SET claimed_by = p_node, claimed_until = now() + p_lease_s * interval '1 second',
        next_attempt_at = now() + p_lease_s * interval '1 second', attempt = d.attempt + 1
    FROM pick, events e, webhook_endpoints w
    WHERE d.id = pick.id AND e.seq = d.event_seq AND w.id = d.endpoint_id AND w.enabled
    RETURNING d.id, d.endpoint_id, d.attempt, w.url, w.secret,
              CASE WHEN w.previous_secret_until > now() THEN w.previous_secret END,
              e.id, e.seq, e.type, ocppgw_us(e.created_at), ocppgw_us(e.occurred_at), e.charger_id,
              e.site_id, e.data::text;
END;
$$;

-- Disables endpoints (410, days of failures, the API), ends their pending
-- deliveries as failed, and writes the audit row with actor p_actor.
CREATE FUNCTION ocppgw_webhook_disable(p_ids uuid[], p_reason text, p_actor text, p_request text)
RETURNS SETOF uuid
LANGUAGE plpgsql AS $$
DECLARE
    v_id uuid;
BEGIN
    FOR v_id IN UPDATE webhook_endpoints SET enabled = false, disabled_reason = p_reason, updated_at = now()
                WHERE id = ANY (p_ids) AND enabled RETURNING id
    LOOP
        UPDATE webhook_deliveries SET state = 'failed', error = 'endpoint disabled: ' || p_reason,
                                      next_attempt_at = now(), claimed_by = NULL, claimed_until = NULL
        WHERE endpoint_id = v_id AND state = 'pending';
        INSERT INTO audit_log (actor, action, resource, detail, result, request_id)
        VALUES (p_actor, 'webhook_endpoint.disable', v_id::text, jsonb_build_object('reason', p_reason),
                'ok', p_request);
        RETURN NEXT v_id;
    END LOOP;
END;
$$;

-- Records what node p_node's attempts came to (arrays by position):
-- outcome 'delivered', 'retry' (again in p_delay seconds), 'failed' (no
-- more attempts) or 'gone' (410: failed, and the endpoint disabled). Rows
-- whose claim is no longer p_node's (the lease ran out and another gateway
-- took them) are left alone. Then the lanes (an ended head's successor is
-- due now: a statement of its own, which sees rows committed while the
-- first waited for a fan-out's share lock) and the endpoints' health:
-- a success clears failing_since; an endpoint failing for p_disable_after_s
-- is disabled. Returns the endpoints disabled and why.
CREATE FUNCTION ocppgw_webhook_record(p_node text, p_ids bigint[], p_outcome text[], p_code integer[],
                                      p_ms integer[], p_error text[], p_body text[],
                                      p_delay double precision[], p_disable_after_s integer)
RETURNS TABLE (endpoint_id uuid, reason text)
LANGUAGE plpgsql AS $$
#variable_conflict use_column
DECLARE
    v_eps uuid[];                   -- per recorded row: endpoint, lane, outcome
    v_lanes text[];
    v_outcomes text[];
    v_gone uuid[];
    v_stale uuid[];
BEGIN
    -- the endpoints first, in id order, as a DELETE or PATCH of an endpoint
    -- takes its row before its deliveries' rows: no deadlock with either
    PERFORM 1 FROM webhook_endpoints w
    WHERE w.id IN (SELECT d.endpoint_id FROM webhook_deliveries d WHERE d.id = ANY (p_ids))
    ORDER BY w.id FOR NO KEY UPDATE;
    WITH r AS (
        SELECT * FROM unnest(p_ids, p_outcome, p_code, p_ms, p_error, p_body, p_delay)
                      AS r(id, outcome, code, ms, error, body, delay)
    ), upd AS (
        UPDATE webhook_deliveries d
        SET state = CASE r.outcome WHEN 'delivered' THEN 'delivered' WHEN 'retry' THEN 'pending' ELSE 'failed' END,
            next_attempt_at = CASE WHEN r.outcome = 'retry' THEN now() + r.delay * interval '1 second'
                                   ELSE d.next_attempt_at END,
            claimed_by = NULL, claimed_until = NULL,
            status_code = r.code, latency_ms = r.ms, error = r.error, response_body = r.body,
            last_attempt_at = now(),
            delivered_at = CASE WHEN r.outcome = 'delivered' THEN now() END
        FROM r
        WHERE d.id = r.id AND d.claimed_by = p_node AND d.state = 'pending'
        RETURNING d.endpoint_id, coalesce(d.charger_id, '') AS lane, r.outcome
    )
    SELECT array_agg(u.endpoint_id), array_agg(u.lane), array_agg(u.outcome) INTO v_eps, v_lanes, v_outcomes
    FROM upd u;
    IF v_eps IS NULL THEN
        RETURN;
    END IF;

    -- an ended head: the next row of its lane is due now (a statement of its
    -- own: it sees the rows fan-outs committed while the first one waited)
    UPDATE webhook_deliveries t SET next_attempt_at = now()
    FROM (SELECT DISTINCT x.ep, x.lane FROM unnest(v_eps, v_lanes, v_outcomes) x(ep, lane, outcome)
          WHERE x.outcome <> 'retry') l,
         LATERAL (SELECT n.id FROM webhook_deliveries n
                  WHERE n.endpoint_id = l.ep AND coalesce(n.charger_id, '') = l.lane AND n.state = 'pending'
                  ORDER BY n.event_seq, n.id LIMIT 1) nx
    WHERE t.id = nx.id AND t.next_attempt_at > now();

    -- health: a success clears failing_since, a failure starts it
    UPDATE webhook_endpoints w SET failing_since = NULL
    WHERE w.failing_since IS NOT NULL
      AND w.id IN (SELECT x.ep FROM unnest(v_eps, v_outcomes) x(ep, outcome) WHERE x.outcome = 'delivered');
    UPDATE webhook_endpoints w SET failing_since = now()
    WHERE w.failing_since IS NULL
      AND w.id IN (SELECT x.ep FROM unnest(v_eps, v_outcomes) x(ep, outcome) WHERE x.outcome <> 'delivered')
      AND w.id NOT IN (SELECT x.ep FROM unnest(v_eps, v_outcomes) x(ep, outcome) WHERE x.outcome = 'delivered');
    SELECT array_agg(DISTINCT x.ep) INTO v_gone FROM unnest(v_eps, v_outcomes) x(ep, outcome) WHERE x.outcome = 'gone';
    SELECT array_agg(w.id) INTO v_stale FROM webhook_endpoints w
    WHERE w.enabled AND w.failing_since < now() - p_disable_after_s * interval '1 second' AND w.id = ANY (v_eps);
    IF v_gone IS NOT NULL THEN
        RETURN QUERY SELECT d, 'the receiver answered 410 Gone'
                     FROM ocppgw_webhook_disable(v_gone, 'the receiver answered 410 Gone', 'webhooks', NULL) d;
    END IF;
    IF v_stale IS NOT NULL THEN
        RETURN QUERY SELECT d, 'every delivery failed for ' || p_disable_after_s || ' s'
                     FROM ocppgw_webhook_disable(v_stale, 'every delivery failed for ' || p_disable_after_s || ' s',
                                                 'webhooks', NULL) d;
    END IF;
END;
$$;

-- The endpoint and event a test delivery (POST .../test) needs: a fresh
-- UUIDv7 for the event id.
CREATE FUNCTION ocppgw_webhook_test_target(p_id uuid)
RETURNS TABLE (url text, secret text, previous_secret text, event_id uuid, created_us bigint)
LANGUAGE sql VOLATILE AS $$
    SELECT w.url, w.secret, CASE WHEN w.previous_secret_until > now() THEN w.previous_secret END,
           ocppgw_uuid7(), ocppgw_us(clock_timestamp())
    FROM webhook_endpoints w WHERE w.id = p_id;
$$;
