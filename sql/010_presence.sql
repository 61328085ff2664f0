-- ocppgw schema, version 10: presence.
--
-- Every gateway process is a node of the cluster: its cluster.node_id (the
-- same across restarts of one service), a random boot id per start, and a
-- heartbeat row here. A charger's row says which node and which boot hold
-- its websocket (connected_node, connected_boot). The rows a node holds are
-- marked disconnected
--   * when it stops: its store's last write, ocppgw_node_stop();
--   * when it starts again: rows a previous run of the same node left behind
--     (kill -9, power loss), ocppgw_node_start(); boots are compared, so a
--     charger that already connected to the new run is not touched;
--   * by any other node once its heartbeat is three of its intervals old
--     (a node that never comes back), ocppgw_node_sweep(), claimed with
--     FOR UPDATE SKIP LOCKED so that two live nodes never both do it.
-- A node declared lost while it was only cut off from the database (a
-- partition, a long failover) takes its chargers back on its next
-- heartbeat: the sweep leaves connected_node/connected_boot on the rows it
-- clears, and only a real disconnect of that boot's connection clears them.
-- The store thread (src/store/presence.c) calls these functions.
--
-- For later versions: a redefinition of ocppgw_charger_connected must be of
-- the six-argument function below (the one the gateway calls), one of
-- ocppgw_charger_disconnected must keep clearing connected_node and
-- connected_boot, and whatever a disconnect emits (charger.disconnected,
-- events.md) the bulk disconnects of ocppgw_node_start, ocppgw_node_sweep
-- and ocppgw_node_stop emit too, one per charger, with their reason.

CREATE TABLE gateway_nodes (
    node_id       text PRIMARY KEY CHECK (node_id ~ '^[A-Za-z0-9._:-]{1,64}$'),
    boot_id       text NOT NULL,
    version       text,
    heartbeat_s   integer NOT NULL DEFAULT 10 CHECK (heartbeat_s > 0),  -- the node's interval
    started_at    timestamptz,
    heartbeat_at  timestamptz NOT NULL,
    stopped_at    timestamptz        -- stopped cleanly, or declared lost by another node
);

-- Set while a boot of a node holds the charger's websocket (and after a
-- sweep, until that boot takes it back or the charger connects again).
ALTER TABLE chargers
    ADD COLUMN connected_node text,
    ADD COLUMN connected_boot text;
CREATE INDEX chargers_connected_node_idx ON chargers (connected_node, connected_boot)
    WHERE connected_node IS NOT NULL;

-- A websocket was accepted by boot p_boot of node p_node (both NULL: a
-- gateway without presence). Version 2's four-argument function stays for
-- gateways not yet upgraded.
CREATE FUNCTION ocppgw_charger_connected(p_charger text, p_auto_register boolean,
                                         p_at_ms bigint, p_remote_addr text,
                                         p_node text, p_boot text)
RETURNS void
LANGUAGE plpgsql AS $$
DECLARE
    v_at timestamptz := ocppgw_ts(p_at_ms);
BEGIN
    IF p_auto_register THEN
        INSERT INTO chargers (id, auto_registered) VALUES (p_charger, true)
        ON CONFLICT (id) DO NOTHING;
    END IF;
    UPDATE chargers
       SET connected = true, connected_at = v_at, remote_addr = nullif(p_remote_addr, ''),
           last_seen_at = greatest(last_seen_at, v_at), connected_node = p_node,
           connected_boot = p_boot, updated_at = now()
     WHERE id = p_charger;
    PERFORM ocppgw_charger_event(p_charger, 'connected', p_remote_addr, p_at_ms);
END $$;

-- A websocket closed: as version 2, and the row no longer names a holder.
-- Only the connection that set connected_at may clear it: a replaced
-- connection closing late (on this node or another) leaves its successor alone.
CREATE OR REPLACE FUNCTION ocppgw_charger_disconnected(p_charger text, p_at_ms bigint,
                                                       p_connected_ms bigint, p_reason text)
RETURNS void
LANGUAGE plpgsql AS $$
BEGIN
    UPDATE chargers
       SET connected = false, disconnected_at = ocppgw_ts(p_at_ms), connected_node = NULL,
           connected_boot = NULL, updated_at = now()
     WHERE id = p_charger
       AND (p_connected_ms IS NULL OR connected_at = ocppgw_ts(p_connected_ms));
    PERFORM ocppgw_charger_event(p_charger, 'disconnected', p_reason, p_at_ms);
END $$;

-- A node's boot starts (the store's first write): the node row is taken
-- for this boot, and every charger an earlier boot of the node left
-- connected is marked disconnected at that boot's last heartbeat (or when
-- it connected, if later), with a 'disconnected' event 'gateway restarted'.
-- Safe to run again (a retry after an unknown commit clears nothing more).
CREATE FUNCTION ocppgw_node_start(p_node text, p_boot text, p_version text, p_heartbeat_s integer,
                                  OUT cleared integer, OUT previous_boot text,
                                  OUT previous_heartbeat_ms bigint, OUT previous_stopped boolean)
LANGUAGE plpgsql AS $$
DECLARE
    prev gateway_nodes%ROWTYPE;
BEGIN
    -- waits for a node sweeping this node's previous boot right now
    SELECT * INTO prev FROM gateway_nodes g WHERE g.node_id = p_node FOR UPDATE;
    previous_boot := prev.boot_id;
    previous_heartbeat_ms := ocppgw_ms(prev.heartbeat_at);
    previous_stopped := prev.stopped_at IS NOT NULL;
    WITH gone AS (
        UPDATE chargers c
           SET connected = false,
               disconnected_at = greatest(c.connected_at, coalesce(prev.heartbeat_at, now())),
               connected_node = NULL, connected_boot = NULL, updated_at = now()
         WHERE c.connected_node = p_node AND c.connected_boot IS DISTINCT FROM p_boot
           AND c.connected
        RETURNING c.id, c.disconnected_at
    ), events AS (
        INSERT INTO charger_events (charger_id, kind, detail, at)
        SELECT gone.id, 'disconnected', 'gateway restarted', gone.disconnected_at FROM gone
    )
    SELECT count(*) INTO cleared FROM gone;
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

-- A node's heartbeat. state:
--   ok          the row is this boot's and was live
--   resumed     another node had declared this boot lost (stopped_at set
--               while it was cut off): the row is live again and the
--               chargers the sweep cleared that this boot still holds are
--               marked connected again (resumed = how many, each with a
--               'connected' event 'gateway node resumed')
--   recreated   the row was gone (deleted by hand): made again, likewise
--   superseded  the row belongs to another boot (other_boot): another
--               process runs with this node id; nothing is changed
CREATE FUNCTION ocppgw_node_heartbeat(p_node text, p_boot text, p_version text,
                                      p_heartbeat_s integer,
                                      OUT state text, OUT resumed integer, OUT other_boot text)
LANGUAGE plpgsql AS $$
DECLARE
    v_boot text;
    v_stopped timestamptz;
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
    WITH back AS (
        UPDATE chargers c SET connected = true, updated_at = now()
         WHERE c.connected_node = p_node AND c.connected_boot = p_boot AND NOT c.connected
        RETURNING c.id
    ), events AS (
        INSERT INTO charger_events (charger_id, kind, detail, at)
        SELECT back.id, 'connected', 'gateway node resumed', now() FROM back
    )
    SELECT count(*) INTO resumed FROM back;
END $$;

-- Nodes (other than p_node) whose heartbeat is three of their intervals
-- old and that did not stop: each is claimed (FOR UPDATE SKIP LOCKED: a
-- node another gateway is sweeping, or that is heartbeating right now, is
-- skipped), its connected chargers are marked disconnected at its last
-- heartbeat (or when they connected, if later) with a 'disconnected' event
-- 'gateway node lost', and it is marked stopped. At most p_max nodes per
-- call. One row per node swept.
CREATE FUNCTION ocppgw_node_sweep(p_node text, p_max integer)
RETURNS TABLE (lost_node text, lost_boot text, last_heartbeat_ms bigint, cleared integer)
LANGUAGE plpgsql AS $$
DECLARE
    n record;
BEGIN
    FOR n IN SELECT g.node_id, g.boot_id, g.heartbeat_at
               FROM gateway_nodes g
              WHERE g.stopped_at IS NULL AND g.node_id <> p_node
                AND g.heartbeat_at < now() - g.heartbeat_s * interval '3 seconds'
              ORDER BY g.heartbeat_at
              LIMIT p_max
                FOR UPDATE SKIP LOCKED
    LOOP
        WITH gone AS (
            UPDATE chargers c
               SET connected = false, disconnected_at = greatest(c.connected_at, n.heartbeat_at),
                   updated_at = now()
             WHERE c.connected_node = n.node_id AND c.connected
            RETURNING c.id, c.disconnected_at
        ), events AS (
            INSERT INTO charger_events (charger_id, kind, detail, at)
            SELECT gone.id, 'disconnected', 'gateway node lost', gone.disconnected_at FROM gone
        )
        SELECT count(*) INTO cleared FROM gone;
        UPDATE gateway_nodes g SET stopped_at = now() WHERE g.node_id = n.node_id;
        lost_node := n.node_id;
        lost_boot := n.boot_id;
        last_heartbeat_ms := ocppgw_ms(n.heartbeat_at);
        RETURN NEXT;
    END LOOP;
END $$;

-- A node's boot stops cleanly (the store's last write, after every
-- per-connection disconnect it had queued): every charger this boot still
-- holds is marked disconnected now, with a 'disconnected' event 'shutdown',
-- and the node row is marked stopped. Returns how many chargers.
CREATE FUNCTION ocppgw_node_stop(p_node text, p_boot text)
RETURNS integer
LANGUAGE plpgsql AS $$
DECLARE
    v_cleared integer;
BEGIN
    WITH gone AS (
        UPDATE chargers c
           SET connected = false, disconnected_at = now(), connected_node = NULL,
               connected_boot = NULL, updated_at = now()
         WHERE c.connected_node = p_node AND c.connected_boot = p_boot AND c.connected
        RETURNING c.id
    ), events AS (
        INSERT INTO charger_events (charger_id, kind, detail, at)
        SELECT gone.id, 'disconnected', 'shutdown', now() FROM gone
    )
    SELECT count(*) INTO v_cleared FROM gone;
    UPDATE chargers c SET connected_node = NULL, connected_boot = NULL
     WHERE c.connected_node = p_node AND c.connected_boot = p_boot;
    UPDATE gateway_nodes g SET stopped_at = now(), heartbeat_at = now()
     WHERE g.node_id = p_node AND g.boot_id = p_boot;
    RETURN v_cleared;
END $$;
