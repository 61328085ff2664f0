-- ocppgw schema, version 15: tariffs with immutable versions, and their
-- assignment to sites, chargers and tokens (/v1/tariffs,
-- src/rest/res_tariffs.c; ../shared/spec/sites-and-tariffs.md, "Tariffs").
--
-- A tariff is an id, the number of its version in force and whether it is
-- the default one (at most one: a partial unique index). Its contents live
-- in tariff_versions, one row per version, never changed once written
-- (a trigger refuses UPDATE): PATCH /v1/tariffs/{id} writes version n+1
-- and moves current_version, so a session priced with version n keeps it.
-- Prices are numbers of minor units, up to four decimals (pricing.h's
-- PRICING_PRICE_SCALE); elements are stored as the validated JSON array.
--
-- sites.tariff_id, chargers.tariff_id and tokens.tariff_id assign a tariff;
-- their foreign keys refuse to delete a tariff still assigned (REST answers
-- 409 RESOURCE_IN_USE), and their indexes make that check cheap.
CREATE TABLE tariffs (
    id              text PRIMARY KEY CHECK (length(id) BETWEEN 1 AND 64),
    current_version integer NOT NULL DEFAULT 1 CHECK (current_version >= 1),
    is_default      boolean NOT NULL DEFAULT false,
    created_at      timestamptz NOT NULL DEFAULT now(),
    updated_at      timestamptz NOT NULL DEFAULT now()
);
CREATE UNIQUE INDEX tariffs_one_default ON tariffs ((true)) WHERE is_default;

CREATE TABLE tariff_versions (
    tariff_id   text NOT NULL REFERENCES tariffs (id) ON DELETE CASCADE,
    version     integer NOT NULL CHECK (version >= 1),
    name        text CHECK (length(name) BETWEEN 1 AND 128),
    currency    text NOT NULL CHECK (currency ~ '^[A-Z]{3}$'),
    vat_percent numeric NOT NULL CHECK (vat_percent BETWEEN 0 AND 100),
    valid_from  timestamptz,
    valid_to    timestamptz,
    elements    jsonb NOT NULL CHECK (jsonb_typeof(elements) = 'array' AND jsonb_array_length(elements) > 0),
    min_price   numeric CHECK (min_price >= 0),
    max_price   numeric CHECK (max_price >= 0),
    created_at  timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (tariff_id, version),
    CHECK (min_price IS NULL OR max_price IS NULL OR min_price <= max_price),
    CHECK (valid_from IS NULL OR valid_to IS NULL OR valid_from < valid_to)
);

CREATE FUNCTION ocppgw_tariff_version_immutable() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
    RAISE EXCEPTION 'tariff versions are immutable (tariff %, version %)', OLD.tariff_id, OLD.version
        USING ERRCODE = 'restrict_violation';
END $$;
CREATE TRIGGER tariff_versions_immutable BEFORE UPDATE ON tariff_versions
    FOR EACH ROW EXECUTE FUNCTION ocppgw_tariff_version_immutable();

ALTER TABLE sites ADD COLUMN tariff_id text REFERENCES tariffs (id);
ALTER TABLE chargers ADD COLUMN tariff_id text REFERENCES tariffs (id);
ALTER TABLE tokens ADD COLUMN tariff_id text REFERENCES tariffs (id);
CREATE INDEX sites_tariff_idx ON sites (tariff_id) WHERE tariff_id IS NOT NULL;
CREATE INDEX chargers_tariff_idx ON chargers (tariff_id) WHERE tariff_id IS NOT NULL;
CREATE INDEX tokens_tariff_idx ON tokens (tariff_id) WHERE tariff_id IS NOT NULL;

-- The tariff that applies to a session of charger p_charger with token
-- p_id_tag (may be NULL; matched as OCPP idTags are, in any case, an exact
-- match first): token > charger > site > default. One row (tariff_id,
-- source) or none.
CREATE FUNCTION ocppgw_effective_tariff(p_charger text, p_id_tag text)
RETURNS TABLE (tariff_id text, source text)
LANGUAGE sql STABLE AS $$
    SELECT x.tariff_id, x.source FROM (
        (SELECT k.tariff_id, 'token' AS source, 1 AS rank FROM tokens k
          WHERE lower(k.id_tag) = lower(p_id_tag) AND k.tariff_id IS NOT NULL
          ORDER BY k.id_tag = p_id_tag DESC LIMIT 1)
        UNION ALL
        SELECT c.tariff_id, 'charger', 2 FROM chargers c WHERE c.id = p_charger AND c.tariff_id IS NOT NULL
        UNION ALL
        SELECT s.tariff_id, 'site', 3 FROM chargers c JOIN sites s ON s.id = c.site_id
         WHERE c.id = p_charger AND s.tariff_id IS NOT NULL
        UNION ALL
        SELECT t.id, 'default', 4 FROM tariffs t WHERE t.is_default
    ) x ORDER BY x.rank LIMIT 1
$$;

-- The tariff frozen on a session: the effective tariff when its
-- StartTransaction row is inserted, and its version in force at the
-- session's start time (the charger's timestamp): among the versions whose
-- validFrom/validTo hold at the start, the newest one written by then, so a
-- late upload from an offline charger gets the version of its own start,
-- not of its upload. A session that started before any of them was written
-- (a clock behind, a tariff made after the fact) gets the oldest one that
-- holds; when none holds at the start, no tariff (no cost). Set by a
-- trigger, so every path that inserts sessions (ocppgw_start_tx, tests,
-- scripts) freezes it the same way; a row that names a tariff keeps it. The
-- foreign key keeps the frozen version (and so its tariff) from being
-- deleted; NOT VALID: the rows before it have none, nothing to scan.
ALTER TABLE sessions
    ADD COLUMN tariff_id text,
    ADD COLUMN tariff_version integer,
    ADD CONSTRAINT sessions_tariff_version_fkey FOREIGN KEY (tariff_id, tariff_version)
        REFERENCES tariff_versions (tariff_id, version) NOT VALID;
CREATE INDEX sessions_tariff_idx ON sessions (tariff_id, tariff_version) WHERE tariff_id IS NOT NULL;

CREATE FUNCTION ocppgw_session_tariff() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
    IF NEW.tariff_id IS NULL THEN
        SELECT v.tariff_id, v.version INTO NEW.tariff_id, NEW.tariff_version
          FROM ocppgw_effective_tariff(NEW.charger_id, NEW.id_tag) e
          JOIN tariff_versions v ON v.tariff_id = e.tariff_id
         WHERE (v.valid_from IS NULL OR v.valid_from <= NEW.start_time)
           AND (v.valid_to IS NULL OR v.valid_to > NEW.start_time)
         ORDER BY CASE WHEN v.created_at <= NEW.start_time THEN v.version ELSE -v.version END DESC
         LIMIT 1;
    END IF;
    RETURN NEW;
END $$;
CREATE TRIGGER sessions_tariff BEFORE INSERT ON sessions
    FOR EACH ROW EXECUTE FUNCTION ocppgw_session_tariff();

-- The session events carry what GET /v1/sessions/{id} shows: the doc of
-- sql/012 plus tariffId and tariffVersion.
CREATE OR REPLACE FUNCTION ocppgw_session_doc(s sessions) RETURNS jsonb
LANGUAGE plpgsql STABLE AS $$
BEGIN
    RETURN jsonb_build_object(
        'id', s.id, 'chargerId', s.charger_id, 'connectorId', s.connector_id,
        'transactionId', s.transaction_id, 'idTag', s.id_tag, 'status', s.status,
        'energy', CASE WHEN s.status = 'completed' THEN s.energy_wh ELSE (
            SELECT round(CASE WHEN mv.unit = 'kWh' THEN mv.value::numeric * 1000
                              ELSE mv.value::numeric END)::bigint - s.meter_start
              FROM meter_values mv
             WHERE mv.session_id = s.id AND mv.measurand = 'Energy.Active.Import.Register'
               AND mv.phase IS NULL AND mv.unit IN ('Wh', 'kWh')
               AND CASE translate(mv.value, '0123456789', '')
                   WHEN '' THEN length(mv.value) BETWEEN 1 AND 15
                   WHEN '.' THEN strpos(mv.value, '.') BETWEEN 2 AND 16
                             AND length(mv.value) - strpos(mv.value, '.') BETWEEN 1 AND 9
                   ELSE false END
             ORDER BY mv.id DESC LIMIT 1) END,
        'startTime', ocppgw_iso(s.start_time), 'endTime', ocppgw_iso(s.end_time),
        'chargingDuration',
            greatest(0, floor(date_part('epoch', coalesce(s.end_time, now()) - s.start_time)))::bigint,
        'meterStart', s.meter_start, 'meterStop', s.meter_stop, 'stopReason', s.stop_reason,
        'stopIdTag', s.stop_id_tag, 'cost', s.cost, 'currency', s.currency)
    || jsonb_build_object(
        'reservationId', s.reservation_id, 'authorizationStatus', s.auth_status,
        'meterAnomaly', s.meter_anomaly, 'createdAt', ocppgw_iso(s.created_at),
        'updatedAt', ocppgw_iso(s.updated_at), 'stale', s.stale, 'staleReason', s.stale_reason,
        'staleAt', ocppgw_iso(s.stale_at))
    || jsonb_build_object('tariffId', s.tariff_id, 'tariffVersion', s.tariff_version);
END $$;
