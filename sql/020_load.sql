-- ocppgw schema, version 20: the configuration of load management
-- (../shared/spec/load-management.md, "Configuration"; REST in
-- src/rest/res_sites.c, res_chargers.c, res_power_limit.c, res_tokens.c).
--
-- A site's supply limit: max_current (A per phase, 0.1 A steps) and/or
-- max_power (W); with both, the lower is in force (max_power in A is
-- W / (voltage x phases), rounded down to 0.1 A). Its load balancing
-- settings are columns of their own (lb_*), so that a PATCH of one of them
-- keeps the others. The rules that join two columns are CHECKs, and a
-- BEFORE trigger raises them first with an SQLSTATE of their own (class
-- OG, ours) so that the REST layer names the field of a merged PATCH:
--   OGL01  loadBalancing.minCurrent above maxCurrent
--   OGL02  loadBalancing.enabled without maxCurrent or maxPower
--
-- A charger's power limit (PUT /v1/chargers/{id}/power-limit, NULL = none)
-- is the ChargePointMaxProfile the gateway keeps on it. Its rated current
-- per phase is the existing max_available_current (maxAvailableCurrent).
--
-- The core keeps both in memory (src/core: the charger registry, the site
-- registry) and follows the tables by NOTIFY: chargers on ocppgw_charger
-- (now also for site_id, max_available_current and power_limit), sites on
-- ocppgw_site. Sites carry a registry_version like chargers (sql/016) so
-- that an older read never overwrites a newer one.
--
-- A token's priority orders sessions under strategy "priority" (higher
-- first). Commands of the load manager are stored with origin 'load'.

-- ---------------------------------------------------------------- sites
ALTER TABLE sites
    ADD COLUMN max_current      numeric(7,1) CHECK (max_current > 0),
    ADD COLUMN max_power        integer CHECK (max_power > 0),
    ADD COLUMN lb_enabled       boolean NOT NULL DEFAULT false,
    ADD COLUMN lb_strategy      text NOT NULL DEFAULT 'equal' CHECK (lb_strategy IN ('equal', 'priority')),
    ADD COLUMN lb_min_current   numeric(7,1) NOT NULL DEFAULT 6 CHECK (lb_min_current >= 0),
    ADD COLUMN lb_phases        smallint NOT NULL DEFAULT 3 CHECK (lb_phases IN (1, 3)),
    ADD COLUMN lb_voltage       integer NOT NULL DEFAULT 230 CHECK (lb_voltage BETWEEN 100 AND 500),
    ADD COLUMN lb_redistribute  boolean NOT NULL DEFAULT true,
    ADD COLUMN registry_version bigint NOT NULL DEFAULT 0,
    ADD CONSTRAINT sites_lb_min_under_max CHECK (lb_min_current <= max_current),
    ADD CONSTRAINT sites_lb_needs_limit CHECK (NOT lb_enabled OR max_current IS NOT NULL OR max_power IS NOT NULL);

CREATE FUNCTION ocppgw_sites_load_check() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
    IF NEW.lb_min_current > NEW.max_current THEN
        RAISE EXCEPTION 'loadBalancing.minCurrent % is above maxCurrent %', NEW.lb_min_current, NEW.max_current
            USING ERRCODE = 'OGL01';
    END IF;
    IF NEW.lb_enabled AND NEW.max_current IS NULL AND NEW.max_power IS NULL THEN
        RAISE EXCEPTION 'load balancing needs maxCurrent or maxPower' USING ERRCODE = 'OGL02';
    END IF;
    RETURN NEW;
END $$;

CREATE TRIGGER sites_load_check BEFORE INSERT OR UPDATE ON sites
    FOR EACH ROW EXECUTE FUNCTION ocppgw_sites_load_check();

CREATE TRIGGER sites_registry_version BEFORE UPDATE OF max_current, max_power, lb_enabled, lb_strategy,
    lb_min_current, lb_phases, lb_voltage, lb_redistribute
    ON sites FOR EACH ROW EXECUTE FUNCTION ocppgw_registry_version();

-- The site registry of every gateway follows this table (src/store/conn.c).
CREATE FUNCTION ocppgw_notify_site() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
    IF TG_OP = 'DELETE' THEN
        PERFORM pg_notify('ocppgw_site', OLD.id);
        RETURN OLD;
    END IF;
    PERFORM pg_notify('ocppgw_site', NEW.id);
    RETURN NEW;
END $$;

CREATE TRIGGER sites_notify_ins_del AFTER INSERT OR DELETE ON sites
    FOR EACH ROW EXECUTE FUNCTION ocppgw_notify_site();
CREATE TRIGGER sites_notify_upd AFTER UPDATE OF max_current, max_power, lb_enabled, lb_strategy,
    lb_min_current, lb_phases, lb_voltage, lb_redistribute
    ON sites FOR EACH ROW EXECUTE FUNCTION ocppgw_notify_site();

-- ---------------------------------------------------------------- chargers
ALTER TABLE chargers
    ADD COLUMN power_limit numeric(7,1) CHECK (power_limit >= 0);

-- The registry (sql/001, sql/016) now also holds the site, the rated
-- current and the power limit.
DROP TRIGGER chargers_registry_version ON chargers;
CREATE TRIGGER chargers_registry_version BEFORE UPDATE OF auth_hash, security_profile, registration_status,
    site_id, max_available_current, power_limit
    ON chargers FOR EACH ROW EXECUTE FUNCTION ocppgw_registry_version();
DROP TRIGGER chargers_notify_upd ON chargers;
CREATE TRIGGER chargers_notify_upd AFTER UPDATE OF auth_hash, security_profile, registration_status,
    site_id, max_available_current, power_limit
    ON chargers FOR EACH ROW EXECUTE FUNCTION ocppgw_notify_charger();

-- Events (sql/012, sql/014): the charger document carries powerLimit, and
-- a change of it is a charger.updated.
CREATE OR REPLACE FUNCTION ocppgw_charger_doc_with(c chargers, p_connectors jsonb) RETURNS jsonb
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
        'connectors', coalesce(p_connectors, '[]'::jsonb), 'powerLimit', c.power_limit)
$$;

CREATE OR REPLACE FUNCTION ocppgw_chargers_emit() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
    IF TG_OP = 'INSERT' THEN
        PERFORM ocppgw_event('charger.created', NEW.id, NULL, ocppgw_charger_doc(NEW));
        RETURN NULL;
    ELSIF TG_OP = 'DELETE' THEN
        PERFORM ocppgw_event('charger.deleted', OLD.id, NULL, ocppgw_charger_doc(OLD));
        RETURN OLD;
    END IF;
    IF (OLD.name, OLD.site_id, OLD.auth_hash, OLD.security_profile, OLD.registration_status,
        OLD.max_available_current, OLD.time_zone, OLD.latitude, OLD.longitude, OLD.commissioning_date,
        OLD.power_limit)
       IS DISTINCT FROM
       (NEW.name, NEW.site_id, NEW.auth_hash, NEW.security_profile, NEW.registration_status,
        NEW.max_available_current, NEW.time_zone, NEW.latitude, NEW.longitude, NEW.commissioning_date,
        NEW.power_limit) THEN
        PERFORM ocppgw_event('charger.updated', NEW.id, NULL, ocppgw_charger_doc(NEW));
    END IF;
    IF NEW.connected AND (NOT OLD.connected OR OLD.connected_at IS DISTINCT FROM NEW.connected_at) THEN
        PERFORM ocppgw_event('charger.connected', NEW.id, NEW.connected_at, ocppgw_charger_doc(NEW));
    ELSIF OLD.connected AND NOT NEW.connected THEN
        -- reason: filled in by the charger_events row that follows (ocppgw_charger_events_emit)
        PERFORM ocppgw_event('charger.disconnected', NEW.id, NEW.disconnected_at,
                             ocppgw_charger_doc(NEW) || '{"reason": null}'::jsonb);
    END IF;
    RETURN NULL;
END $$;

DROP TRIGGER chargers_emit_upd ON chargers;
CREATE TRIGGER chargers_emit_upd AFTER UPDATE ON chargers FOR EACH ROW
    WHEN (((OLD.name, OLD.site_id, OLD.auth_hash, OLD.security_profile, OLD.registration_status,
            OLD.max_available_current, OLD.time_zone, OLD.latitude, OLD.longitude, OLD.commissioning_date,
            OLD.power_limit)
           IS DISTINCT FROM
           (NEW.name, NEW.site_id, NEW.auth_hash, NEW.security_profile, NEW.registration_status,
            NEW.max_available_current, NEW.time_zone, NEW.latitude, NEW.longitude, NEW.commissioning_date,
            NEW.power_limit)
           OR OLD.connected IS DISTINCT FROM NEW.connected
           OR (NEW.connected AND OLD.connected_at IS DISTINCT FROM NEW.connected_at))
          AND NOT ocppgw_bulk_events())
    EXECUTE FUNCTION ocppgw_chargers_emit();

-- ---------------------------------------------------------------- tokens
ALTER TABLE tokens
    ADD COLUMN priority integer NOT NULL DEFAULT 0 CHECK (priority BETWEEN -1000 AND 1000);

CREATE OR REPLACE FUNCTION ocppgw_token_doc(t tokens) RETURNS jsonb
LANGUAGE plpgsql STABLE AS $$
BEGIN
    RETURN jsonb_build_object(
        'idTag', t.id_tag, 'status', t.status, 'expiryDate', ocppgw_iso(t.expiry_date),
        'parentIdTag', t.parent_id_tag, 'name', t.name, 'priority', t.priority,
        'createdAt', ocppgw_iso(t.created_at), 'updatedAt', ocppgw_iso(t.updated_at));
END $$;

-- ---------------------------------------------------------------- commands
ALTER TABLE commands
    DROP CONSTRAINT commands_origin_check,
    ADD CONSTRAINT commands_origin_check CHECK (origin IN ('api', 'gateway', 'load'));
