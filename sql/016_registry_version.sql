-- ocppgw schema, version 16: a version for what the charger registry holds.
--
-- A gateway's registry (src/core) learns a charger's credentials from three
-- reads: a notification's read of the row, the reload at start, and the
-- row a REST write returns (applied before the answer). The first two run
-- on the OCPP store's connection and can be taken before a REST change
-- commits yet reach the loop after REST applied it: the older credentials
-- would come back for a moment (a changed key admitted again). Every
-- update that sets one of the registry's columns bumps registry_version
-- (under the row lock, so in commit order); the registry applies no row
-- older than the one it holds (core_charger_upsert).
ALTER TABLE chargers ADD COLUMN registry_version bigint NOT NULL DEFAULT 0;

CREATE FUNCTION ocppgw_registry_version() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
    NEW.registry_version := OLD.registry_version + 1;
    RETURN NEW;
END $$;

CREATE TRIGGER chargers_registry_version BEFORE UPDATE OF auth_hash, security_profile, registration_status
    ON chargers FOR EACH ROW EXECUTE FUNCTION ocppgw_registry_version();
