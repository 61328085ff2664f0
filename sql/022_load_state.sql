-- ocppgw schema, version 22: load management's shared state
-- (../shared/spec/load-management.md; src/core/core_load.c, docs/load-management.md).
--
-- One gateway decides a site's allocation at a time: the one whose OCPP
-- store connection holds the site's advisory lock (ocppgw_load_claim). It
-- writes the site's allocation table here, so that any gateway answers
-- GET /v1/sites/{id}/load, and emits load.allocation_changed /
-- load.profile_rejected from the same transactions.

CREATE TABLE site_load (
    site_id     text PRIMARY KEY REFERENCES sites (id) ON DELETE CASCADE,
    node_id     text,                       -- the gateway that decides the site
    doc         jsonb NOT NULL,             -- the GET /v1/sites/{id}/load document
    updated_at  timestamptz NOT NULL
);

-- 0.1 A steps (the core's unit) as amperes; negative = unknown = NULL.
CREATE FUNCTION ocppgw_da(p bigint) RETURNS numeric
LANGUAGE sql IMMUTABLE PARALLEL SAFE AS $$
    SELECT CASE WHEN p IS NULL OR p < 0 THEN NULL ELSE round(p / 10.0, 1) END
$$;

-- The claim: takes (or keeps: it is re-entrant for the session that holds
-- it) the site's session-level advisory lock. Answers one row 'other' when
-- another gateway holds it; else 'claimed', then one 'session' row per
-- active session of the site's chargers that no other gateway holds, and
-- one 'remote' row per charger of the site connected to another gateway
-- (counted at its full current: this gateway cannot reach it). The lock
-- goes with the connection: a gateway that dies frees its sites.
CREATE FUNCTION ocppgw_load_claim(p_site text, p_node text)
RETURNS TABLE (kind text, session_id bigint, charger_id text, connector_id integer,
               transaction_id integer, start_ms bigint, priority integer)
LANGUAGE plpgsql AS $$
BEGIN
    IF NOT pg_try_advisory_lock(hashtextextended('ocppgw.load:' || p_site, 0)) THEN
        RETURN QUERY SELECT 'other'::text, NULL::bigint, NULL::text, NULL::integer, NULL::integer,
                            NULL::bigint, NULL::integer;
        RETURN;
    END IF;
    RETURN QUERY SELECT 'claimed'::text, NULL::bigint, NULL::text, NULL::integer, NULL::integer,
                        NULL::bigint, NULL::integer;
    RETURN QUERY
        SELECT 'session'::text, s.id, s.charger_id, s.connector_id, s.transaction_id,
               ocppgw_ms(s.start_time), coalesce(t.priority, 0)
          FROM sessions s
          JOIN chargers c ON c.id = s.charger_id
          LEFT JOIN tokens t ON t.id_tag = s.id_tag
         WHERE c.site_id = p_site AND s.status = 'active'
           AND NOT (c.connected AND c.connected_node IS DISTINCT FROM p_node);
    RETURN QUERY
        SELECT 'remote'::text, NULL::bigint, c.id, NULL::integer, NULL::integer, NULL::bigint, NULL::integer
          FROM chargers c
         WHERE c.site_id = p_site AND c.connected AND c.connected_node IS DISTINCT FROM p_node;
END $$;

-- Stages a site's event: ocppgw_event's, without a charger, its site_id set.
CREATE FUNCTION ocppgw_site_event(p_type text, p_site text, p_occurred timestamptz, p_data jsonb)
RETURNS uuid
LANGUAGE plpgsql AS $$
DECLARE
    v_id uuid;
BEGIN
    v_id := ocppgw_event(p_type, NULL, p_occurred, p_data);
    IF v_id IS NOT NULL THEN
        UPDATE pg_temp.ocppgw_events_staged SET site_id = p_site WHERE id = v_id;
    END IF;
    RETURN v_id;
END $$;

-- The decider's allocation table of a site. p_chargers: one per session;
-- p_nums: six per session (session id, connector id, allocated, accepted,
-- measured in 0.1 A with -1 unknown, since in ms). p_limit -1: the site
-- no longer balances load. With p_changed, load.allocation_changed carries
-- the same document.
CREATE FUNCTION ocppgw_load_state(p_site text, p_node text, p_limit integer, p_strategy text,
                                  p_at bigint, p_chargers text[], p_nums bigint[], p_changed boolean)
RETURNS void
LANGUAGE plpgsql AS $$
DECLARE
    v_rows jsonb;
    v_alloc bigint;
    v_measured bigint;
    v_doc jsonb;
BEGIN
    IF NOT EXISTS (SELECT 1 FROM sites s WHERE s.id = p_site) THEN
        RETURN;                                 -- deleted meanwhile
    END IF;
    SELECT coalesce(jsonb_agg(jsonb_build_object(
               'sessionId', p_nums[i * 6 + 1], 'chargerId', p_chargers[i + 1],
               'connectorId', p_nums[i * 6 + 2],
               'allocatedCurrent', ocppgw_da(p_nums[i * 6 + 3]),
               'acceptedCurrent', ocppgw_da(p_nums[i * 6 + 4]),
               'measuredCurrent', ocppgw_da(p_nums[i * 6 + 5]),
               'since', ocppgw_iso(ocppgw_ts(p_nums[i * 6 + 6])))
               ORDER BY p_nums[i * 6 + 1]), '[]'::jsonb),
           coalesce(sum(greatest(p_nums[i * 6 + 3], 0)), 0),
           sum(p_nums[i * 6 + 5]) FILTER (WHERE p_nums[i * 6 + 5] >= 0)
      INTO v_rows, v_alloc, v_measured
      FROM generate_series(0, coalesce(array_length(p_chargers, 1), 0) - 1) AS i;
    v_doc := jsonb_build_object(
        'siteId', p_site,
        'maxCurrent', ocppgw_da(p_limit),
        'allocated', ocppgw_da(v_alloc),
        'measured', ocppgw_da(v_measured),
        'strategy', nullif(p_strategy, ''),
        'sessions', v_rows,
        'updatedAt', ocppgw_iso(ocppgw_ts(p_at)));
    INSERT INTO site_load AS l (site_id, node_id, doc, updated_at)
    VALUES (p_site, p_node, v_doc, ocppgw_ts(p_at))
    ON CONFLICT (site_id) DO UPDATE
        SET node_id = EXCLUDED.node_id, doc = EXCLUDED.doc, updated_at = EXCLUDED.updated_at
        WHERE l.updated_at <= EXCLUDED.updated_at;
    IF p_changed THEN
        PERFORM ocppgw_site_event('load.allocation_changed', p_site, ocppgw_ts(p_at), v_doc);
    END IF;
END $$;

-- A profile of the decider that is not in force (Rejected, a CALLERROR, no answer).
CREATE FUNCTION ocppgw_load_rejected(p_site text, p_charger text, p_connector integer, p_purpose text,
                                     p_limit integer, p_session bigint, p_outcome text, p_command text,
                                     p_at bigint)
RETURNS void
LANGUAGE plpgsql AS $$
BEGIN
    PERFORM ocppgw_event('load.profile_rejected', p_charger, ocppgw_ts(p_at), jsonb_build_object(
        'siteId', p_site, 'chargerId', p_charger, 'connectorId', p_connector,
        'chargingProfilePurpose', p_purpose, 'limit', ocppgw_da(p_limit),
        'sessionId', p_session, 'outcome', p_outcome, 'commandId', p_command));
END $$;
