-- ocppgw schema, version 14: events of many chargers at once, in one
-- statement (issue 11: a stop of 19,000 connected chargers in under 3 s).
--
-- A gateway's stop, the restart of a node and the sweep of a lost one
-- disconnect every charger of that node in one UPDATE (sql/010). Through
-- the per-row triggers of sql/012 that meant, per charger, a PL/pgSQL call
-- building its document with one connectors subquery, a staged event, and a
-- second update of that event for its reason: 2 s of database time for
-- 19,000 chargers, most of a clean stop. Here those statements set
-- `ocppgw.bulk_events` for their own duration; the triggers' WHEN clauses
-- leave the rows to them (PL/pgSQL is not even entered), and the events are
-- staged by one INSERT ... SELECT whose documents are built from one
-- aggregate over the connectors. The events are the same as the per-row
-- path's (type, charger, occurredAt, data as GET shows it, reason), in the
-- same transaction; tests/integration/it_presence.c reads them back.
--
-- The document functions become LANGUAGE sql, which the planner inlines
-- into the statement that calls them (a PL/pgSQL call per connector cost
-- 15 times the SQL one); ocppgw_charger_doc is ocppgw_charger_doc_with
-- given its connectors, so that the per-row and the bulk path share one
-- definition of a charger's document.

-- ---------------------------------------------------------------- documents

-- One of GET /v1/chargers/{id}'s connectors (res_chargers.c, live_connectors).
CREATE OR REPLACE FUNCTION ocppgw_connector_doc(k connectors) RETURNS jsonb
LANGUAGE sql STABLE AS $$
    SELECT jsonb_build_object(
        'connectorId', k.connector_id, 'status', k.status, 'errorCode', k.error_code,
        'info', k.info, 'vendorId', k.vendor_id, 'vendorErrorCode', k.vendor_error_code,
        'timestamp', ocppgw_iso(k.status_at),
        'updatedAt', ocppgw_iso(coalesce(k.status_at, k.updated_at)))
$$;

-- GET /v1/chargers/{id} (res_chargers.c, charger_cols) given its connectors
-- (a jsonb array of ocppgw_connector_doc in connector order; NULL = none).
CREATE FUNCTION ocppgw_charger_doc_with(c chargers, p_connectors jsonb) RETURNS jsonb
LANGUAGE sql STABLE AS $$
    SELECT jsonb_build_object(
        'id', c.id, 'name', c.name, 'serialNumber', c.serial_number,
        'chargeBoxSerialNumber', c.charge_box_serial, 'model', c.model, 'vendor', c.vendor,
        'firmwareVersion', c.firmware_version, 'iccid', c.iccid, 'imsi', c.imsi,
        'meterType', c.meter_type, 'meterSerialNumber', c.meter_serial,
        'maxAvailableCurrent', c.max_available_current, 'timeZone', c.time_zone,
        'latitude', c.latitude, 'longitude', c.longitude,
        'commissioningDate', to_char(c.commissioning_date, 'YYYY-MM-DD'),
        'connected', c.connected, 'lastSeenAt', ocppgw_iso(c.last_seen_at),
        'connectedAt', ocppgw_iso(c.connected_at), 'disconnectedAt', ocppgw_iso(c.disconnected_at),
        'lastBootAt', ocppgw_iso(c.last_boot_at), 'registrationStatus', c.registration_status,
        'securityProfile', c.security_profile, 'hasAuthorizationKey', c.auth_hash IS NOT NULL)
    || jsonb_build_object(
        'autoRegistered', c.auto_registered, 'siteId', c.site_id,
        'firmwareStatus', c.firmware_status, 'diagnosticsStatus', c.diagnostics_status,
        'signedFirmwareStatus', c.signed_firmware_status,
        'signedFirmwareRequestId', c.signed_firmware_request_id,
        'signedFirmwareStatusAt', ocppgw_iso(c.signed_firmware_status_at),
        'logStatus', c.log_status, 'logRequestId', c.log_request_id,
        'logStatusAt', ocppgw_iso(c.log_status_at),
        'createdAt', ocppgw_iso(c.created_at), 'updatedAt', ocppgw_iso(c.updated_at),
        'connectors', coalesce(p_connectors, '[]'::jsonb))
$$;

-- GET /v1/chargers/{id}: the row's document with its connectors read now.
CREATE OR REPLACE FUNCTION ocppgw_charger_doc(c chargers) RETURNS jsonb
LANGUAGE sql STABLE AS $$
    SELECT ocppgw_charger_doc_with(c, (SELECT jsonb_agg(ocppgw_connector_doc(k) ORDER BY k.connector_id)
                                         FROM connectors k WHERE k.charger_id = c.id))
$$;

-- ---------------------------------------------------------------- staging

-- This connection's staging table, made on first use (sql/011); true if
-- the caller's rows are the transaction's first, i.e. queue the move.
CREATE FUNCTION ocppgw_events_stage_begin() RETURNS boolean
LANGUAGE plpgsql AS $$
DECLARE
    v_first boolean;
BEGIN
    IF to_regclass('pg_temp.ocppgw_events_staged') IS NULL THEN
        CREATE TEMP TABLE ocppgw_events_staged (
            ord         bigint GENERATED ALWAYS AS IDENTITY,
            id          uuid NOT NULL,
            type        text NOT NULL,
            occurred_at timestamptz,
            charger_id  text,
            site_id     text,
            data        jsonb NOT NULL,
            queues_move boolean NOT NULL      -- the transaction's first: queues the move
        ) ON COMMIT DELETE ROWS;
        -- a later statement completes a staged charger.disconnected (its reason, sql/012)
        CREATE INDEX ON pg_temp.ocppgw_events_staged (charger_id) WHERE type = 'charger.disconnected';
        CREATE CONSTRAINT TRIGGER ocppgw_events_move AFTER INSERT ON pg_temp.ocppgw_events_staged
            DEFERRABLE INITIALLY DEFERRED FOR EACH ROW WHEN (NEW.queues_move)
            EXECUTE FUNCTION ocppgw_events_move();
    END IF;
    v_first := coalesce(current_setting('ocppgw.events_move_queued', true), '') = '';
    IF v_first THEN
        PERFORM set_config('ocppgw.events_move_queued', 'on', true);
    END IF;
    RETURN v_first;
END $$;

-- Emits an event from the current transaction (sql/011's contract: p_data
-- is the resource as GET shows it; returns the event's id).
CREATE OR REPLACE FUNCTION ocppgw_event(p_type text, p_charger text, p_occurred timestamptz, p_data jsonb)
RETURNS uuid
LANGUAGE plpgsql AS $$
DECLARE
    v_id uuid;
    v_first boolean;
BEGIN
    IF NOT ocppgw_event_wanted(p_type) THEN
        RETURN NULL;
    END IF;
    v_first := ocppgw_events_stage_begin();     -- before the INSERT: it may make the table
    v_id := ocppgw_uuid7();
    INSERT INTO pg_temp.ocppgw_events_staged (id, type, occurred_at, charger_id, site_id, data, queues_move)
    VALUES (v_id, p_type, p_occurred, p_charger,
            (SELECT c.site_id FROM chargers c WHERE c.id = p_charger), p_data, v_first);
    RETURN v_id;
END $$;

-- ---------------------------------------------------------------- bulk

-- Whether a bulk statement of this transaction is emitting its rows' events itself.
CREATE FUNCTION ocppgw_bulk_events() RETURNS boolean
LANGUAGE sql STABLE AS $$
    SELECT coalesce(current_setting('ocppgw.bulk_events', true), '') = 'on'
$$;

CREATE FUNCTION ocppgw_bulk_events_set(p_on boolean) RETURNS void
LANGUAGE sql AS $$
    SELECT set_config('ocppgw.bulk_events', CASE WHEN p_on THEN 'on' ELSE '' END, true);
$$;

-- charger.connected (p_reason NULL) or charger.disconnected (with
-- `reason`) for every row of p_rows, as ocppgw_chargers_emit and
-- ocppgw_charger_events_emit (sql/012) would emit them one by one: data
-- the row's document, occurredAt its connected_at / disconnected_at.
-- Staged in one statement; returns how many.
CREATE FUNCTION ocppgw_charger_events_bulk(p_type text, p_reason text, p_rows chargers[])
RETURNS integer
LANGUAGE plpgsql AS $$
DECLARE
    v_first boolean;
    v_n integer;
BEGIN
    IF coalesce(cardinality(p_rows), 0) = 0 OR NOT ocppgw_event_wanted(p_type) THEN
        RETURN 0;
    END IF;
    v_first := ocppgw_events_stage_begin();
    WITH r AS (
        -- unnest, not p_rows[i]: subscripting an array of rows walks it from the start
        SELECT x, row_number() OVER () AS ord FROM unnest(p_rows) AS x
    ), conns AS (
        SELECT k.charger_id, jsonb_agg(ocppgw_connector_doc(k) ORDER BY k.connector_id) AS docs
          FROM connectors k WHERE k.charger_id IN (SELECT (r.x).id FROM r)
         GROUP BY k.charger_id
    )
    INSERT INTO pg_temp.ocppgw_events_staged (id, type, occurred_at, charger_id, site_id, data, queues_move)
    SELECT ocppgw_uuid7(), p_type,
           CASE WHEN p_type = 'charger.connected' THEN (r.x).connected_at ELSE (r.x).disconnected_at END,
           (r.x).id, (r.x).site_id,
           CASE WHEN p_type = 'charger.disconnected'
                THEN ocppgw_charger_doc_with(r.x, conns.docs) || jsonb_build_object('reason', p_reason)
                ELSE ocppgw_charger_doc_with(r.x, conns.docs) END,
           v_first AND r.ord = 1          -- the transaction's first staged row queues the move
      FROM r LEFT JOIN conns ON conns.charger_id = (r.x).id
     ORDER BY r.ord;
    GET DIAGNOSTICS v_n = ROW_COUNT;
    RETURN v_n;
END $$;

-- The per-row triggers of sql/012, unchanged but for leaving a bulk
-- statement's rows to it.
DROP TRIGGER chargers_emit_upd ON chargers;
CREATE TRIGGER chargers_emit_upd AFTER UPDATE ON chargers FOR EACH ROW
    WHEN (((OLD.name, OLD.site_id, OLD.auth_hash, OLD.security_profile, OLD.registration_status,
            OLD.max_available_current, OLD.time_zone, OLD.latitude, OLD.longitude, OLD.commissioning_date)
           IS DISTINCT FROM
           (NEW.name, NEW.site_id, NEW.auth_hash, NEW.security_profile, NEW.registration_status,
            NEW.max_available_current, NEW.time_zone, NEW.latitude, NEW.longitude, NEW.commissioning_date)
           OR OLD.connected IS DISTINCT FROM NEW.connected
           OR (NEW.connected AND OLD.connected_at IS DISTINCT FROM NEW.connected_at))
          AND NOT ocppgw_bulk_events())
    EXECUTE FUNCTION ocppgw_chargers_emit();

DROP TRIGGER charger_events_emit ON charger_events;
CREATE TRIGGER charger_events_emit AFTER INSERT ON charger_events FOR EACH ROW
    WHEN (NEW.kind IN ('disconnected', 'boot', 'firmware_status', 'signed_firmware_status',
                       'diagnostics_status', 'log_status', 'auth_failed', 'auth_throttled',
                       'connection_replaced', 'csr_rejected')
          AND NOT ocppgw_bulk_events())
    EXECUTE FUNCTION ocppgw_charger_events_emit();

-- ---------------------------------------------------------------- presence (sql/010)
-- The node functions, the same but for their events: one bulk statement
-- each instead of one trigger call per charger.

CREATE OR REPLACE FUNCTION ocppgw_node_start(p_node text, p_boot text, p_version text, p_heartbeat_s integer,
                                             OUT cleared integer, OUT previous_boot text,
                                             OUT previous_heartbeat_ms bigint, OUT previous_stopped boolean)
LANGUAGE plpgsql AS $$
DECLARE
    prev gateway_nodes%ROWTYPE;
    v_rows chargers[];
BEGIN
    -- waits for a node sweeping this node's previous boot right now
    SELECT * INTO prev FROM gateway_nodes g WHERE g.node_id = p_node FOR UPDATE;
    previous_boot := prev.boot_id;
    previous_heartbeat_ms := ocppgw_ms(prev.heartbeat_at);
    previous_stopped := prev.stopped_at IS NOT NULL;
    PERFORM ocppgw_bulk_events_set(true);
    WITH gone AS (
        UPDATE chargers c
           SET connected = false,
               disconnected_at = greatest(c.connected_at, coalesce(prev.heartbeat_at, now())),
               connected_node = NULL, connected_boot = NULL, updated_at = now()
         WHERE c.connected_node = p_node AND c.connected_boot IS DISTINCT FROM p_boot
           AND c.connected
        RETURNING c AS x
    ), events AS (
        INSERT INTO charger_events (charger_id, kind, detail, at)
        SELECT (gone.x).id, 'disconnected', 'gateway restarted', (gone.x).disconnected_at FROM gone
    )
    SELECT array_agg(gone.x) INTO v_rows FROM gone;
    PERFORM ocppgw_charger_events_bulk('charger.disconnected', 'gateway restarted', v_rows);
    cleared := coalesce(cardinality(v_rows), 0);
    PERFORM ocppgw_bulk_events_set(false);
    -- rows a sweep left naming an earlier boot: nobody will take them back
    UPDATE chargers c SET connected_node = NULL, connected_boot = NULL
     WHERE c.connected_node = p_node AND c.connected_boot IS DISTINCT FROM p_boot
       AND NOT c.connected;
    INSERT INTO gateway_nodes AS g (node_id, boot_id, version, heartbeat_s, started_at,
                                    heartbeat_at, stopped_at)
    VALUES (p_node, p_boot, p_version, p_heartbeat_s, now(), now(), NULL)
    ON CONFLICT (node_id) DO UPDATE
       SET boot_id = EXCLUDED.boot_id, version = EXCLUDED.version,
           heartbeat_s = EXCLUDED.heartbeat_s, heartbeat_at = EXCLUDED.heartbeat_at,
           stopped_at = NULL,
           started_at = CASE WHEN g.boot_id = EXCLUDED.boot_id THEN g.started_at
                             ELSE EXCLUDED.started_at END;
END $$;

CREATE OR REPLACE FUNCTION ocppgw_node_heartbeat(p_node text, p_boot text, p_version text,
                                                 p_heartbeat_s integer,
                                                 OUT state text, OUT resumed integer, OUT other_boot text)
LANGUAGE plpgsql AS $$
DECLARE
    v_boot text;
    v_stopped timestamptz;
    v_rows chargers[];
BEGIN
    resumed := 0;
    SELECT g.boot_id, g.stopped_at INTO v_boot, v_stopped
      FROM gateway_nodes g WHERE g.node_id = p_node FOR UPDATE;
    IF NOT FOUND THEN
        INSERT INTO gateway_nodes (node_id, boot_id, version, heartbeat_s, started_at, heartbeat_at)
        VALUES (p_node, p_boot, p_version, p_heartbeat_s, now(), now());
        state := 'recreated';
    ELSIF v_boot <> p_boot THEN
        state := 'superseded';
        other_boot := v_boot;
        RETURN;
    ELSE
        UPDATE gateway_nodes g
           SET heartbeat_at = now(), stopped_at = NULL, heartbeat_s = p_heartbeat_s
         WHERE g.node_id = p_node;
        state := CASE WHEN v_stopped IS NULL THEN 'ok' ELSE 'resumed' END;
    END IF;
    IF state = 'ok' THEN
        RETURN;
    END IF;
    PERFORM ocppgw_bulk_events_set(true);
    WITH back AS (
        UPDATE chargers c SET connected = true, updated_at = now()
         WHERE c.connected_node = p_node AND c.connected_boot = p_boot AND NOT c.connected
        RETURNING c AS x
    ), events AS (
        INSERT INTO charger_events (charger_id, kind, detail, at)
        SELECT (back.x).id, 'connected', 'gateway node resumed', now() FROM back
    )
    SELECT array_agg(back.x) INTO v_rows FROM back;
    PERFORM ocppgw_charger_events_bulk('charger.connected', NULL, v_rows);
    resumed := coalesce(cardinality(v_rows), 0);
    PERFORM ocppgw_bulk_events_set(false);
END $$;

CREATE OR REPLACE FUNCTION ocppgw_node_sweep(p_node text, p_max integer)
RETURNS TABLE (lost_node text, lost_boot text, last_heartbeat_ms bigint, cleared integer)
LANGUAGE plpgsql AS $$
DECLARE
    n record;
    v_rows chargers[];
BEGIN
    FOR n IN SELECT g.node_id, g.boot_id, g.heartbeat_at
               FROM gateway_nodes g
              WHERE g.stopped_at IS NULL AND g.node_id <> p_node
                AND g.heartbeat_at < now() - g.heartbeat_s * interval '3 seconds'
              ORDER BY g.heartbeat_at
              LIMIT p_max
                FOR UPDATE SKIP LOCKED
    LOOP
        PERFORM ocppgw_bulk_events_set(true);
        WITH gone AS (
            UPDATE chargers c
               SET connected = false, disconnected_at = greatest(c.connected_at, n.heartbeat_at),
                   updated_at = now()
             WHERE c.connected_node = n.node_id AND c.connected
            RETURNING c AS x
        ), events AS (
            INSERT INTO charger_events (charger_id, kind, detail, at)
            SELECT (gone.x).id, 'disconnected', 'gateway node lost', (gone.x).disconnected_at FROM gone
        )
        SELECT array_agg(gone.x) INTO v_rows FROM gone;
        PERFORM ocppgw_charger_events_bulk('charger.disconnected', 'gateway node lost', v_rows);
        cleared := coalesce(cardinality(v_rows), 0);
        PERFORM ocppgw_bulk_events_set(false);
        UPDATE gateway_nodes g SET stopped_at = now() WHERE g.node_id = n.node_id;
        lost_node := n.node_id;
        lost_boot := n.boot_id;
        last_heartbeat_ms := ocppgw_ms(n.heartbeat_at);
        RETURN NEXT;
    END LOOP;
END $$;

CREATE OR REPLACE FUNCTION ocppgw_node_stop(p_node text, p_boot text)
RETURNS integer
LANGUAGE plpgsql AS $$
DECLARE
    v_rows chargers[];
BEGIN
    PERFORM ocppgw_bulk_events_set(true);
    WITH gone AS (
        UPDATE chargers c
           SET connected = false, disconnected_at = now(), connected_node = NULL,
               connected_boot = NULL, updated_at = now()
         WHERE c.connected_node = p_node AND c.connected_boot = p_boot AND c.connected
        RETURNING c AS x
    ), events AS (
        INSERT INTO charger_events (charger_id, kind, detail, at)
        SELECT (gone.x).id, 'disconnected', 'shutdown', now() FROM gone
    )
    SELECT array_agg(gone.x) INTO v_rows FROM gone;
    PERFORM ocppgw_charger_events_bulk('charger.disconnected', 'shutdown', v_rows);
    PERFORM ocppgw_bulk_events_set(false);
    UPDATE chargers c SET connected_node = NULL, connected_boot = NULL
     WHERE c.connected_node = p_node AND c.connected_boot = p_boot;
    UPDATE gateway_nodes g SET stopped_at = now(), heartbeat_at = now()
     WHERE g.node_id = p_node AND g.boot_id = p_boot;
    RETURN coalesce(cardinality(v_rows), 0);
END $$;
