-- ocppgw schema, version 17: sites as a resource of their own (/v1/sites,
-- src/rest/res_sites.c; ../shared/spec/sites-and-tariffs.md, "Sites").
--
-- A site is where chargers stand: a name, the IANA zone its local times are
-- shown in (checked against the tz database by the REST layer, which has
-- it; the column only bounds the length), a postal address and a position.
-- Load management (maxPower, loadBalancing) will be further columns here.
--
-- Until now a charger placed on an unknown site created it
-- (ocppgw_ensure_site, 004). Sites are made with POST /v1/sites now: the
-- REST API no longer calls that function (it stays for scripts), and the
-- foreign key no longer clears a charger's site when its site is deleted:
-- DELETE /v1/sites/{id} refuses a site that still has chargers (409
-- RESOURCE_IN_USE) unless asked to take them off it first (?force=true),
-- and the key is what makes that refusal hold against a charger placed on
-- the site while it is being deleted.
--
-- Sites are few (one per location): the lists scan the table, as the
-- chargers list does; chargerCount uses chargers_site_idx.
ALTER TABLE sites
    ADD COLUMN time_zone   text NOT NULL DEFAULT 'UTC' CHECK (length(time_zone) BETWEEN 1 AND 64),
    ADD COLUMN street      text CHECK (length(street) BETWEEN 1 AND 200),
    ADD COLUMN city        text CHECK (length(city) BETWEEN 1 AND 100),
    ADD COLUMN postal_code text CHECK (length(postal_code) BETWEEN 1 AND 20),
    -- ISO 3166-1 alpha-2, in capitals (the REST layer checks it is an assigned code)
    ADD COLUMN country     text CHECK (country ~ '^[A-Z]{2}$'),
    ADD COLUMN latitude    double precision CHECK (latitude BETWEEN -90 AND 90),
    ADD COLUMN longitude   double precision CHECK (longitude BETWEEN -180 AND 180),
    ADD COLUMN updated_at  timestamptz NOT NULL DEFAULT now();

ALTER TABLE chargers
    DROP CONSTRAINT chargers_site_id_fkey,
    ADD CONSTRAINT chargers_site_id_fkey FOREIGN KEY (site_id) REFERENCES sites (id);
