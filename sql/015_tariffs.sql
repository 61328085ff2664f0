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
-- p_id_tag (may be NULL): token > charger > site > default. One row
-- (tariff_id, source) or none.
CREATE FUNCTION ocppgw_effective_tariff(p_charger text, p_id_tag text)
RETURNS TABLE (tariff_id text, source text)
LANGUAGE sql STABLE AS $$
    SELECT x.tariff_id, x.source FROM (
        SELECT k.tariff_id, 'token' AS source, 1 AS rank FROM tokens k
         WHERE k.id_tag = p_id_tag AND k.tariff_id IS NOT NULL
        UNION ALL
        SELECT c.tariff_id, 'charger', 2 FROM chargers c WHERE c.id = p_charger AND c.tariff_id IS NOT NULL
        UNION ALL
        SELECT s.tariff_id, 'site', 3 FROM chargers c JOIN sites s ON s.id = c.site_id
         WHERE c.id = p_charger AND s.tariff_id IS NOT NULL
        UNION ALL
        SELECT t.id, 'default', 4 FROM tariffs t WHERE t.is_default
    ) x ORDER BY x.rank LIMIT 1
$$;
