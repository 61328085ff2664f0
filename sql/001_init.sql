-- ocppgw schema, version 1.
-- Applied once by `ocppgw migrate` (tracked in schema_migrations, which the
-- migrator creates itself). Designed for the REST API: every collection that
-- grows without bound has a bigint identity for cursor pagination.

CREATE TABLE sites (
    id          text PRIMARY KEY CHECK (length(id) BETWEEN 1 AND 64),
    name        text,
    created_at  timestamptz NOT NULL DEFAULT now()
);

CREATE TABLE chargers (
    id                     text PRIMARY KEY CHECK (length(id) BETWEEN 1 AND 48),
    name                   text,
    site_id                text REFERENCES sites(id) ON DELETE SET NULL,
    -- security profile 1/2: "pbkdf2-sha256$iter$salt$hash" of the AuthorizationKey
    auth_hash              text,
    security_profile       smallint NOT NULL DEFAULT 0 CHECK (security_profile BETWEEN 0 AND 3),
    -- what BootNotification answers
    registration_status    text NOT NULL DEFAULT 'Accepted'
                           CHECK (registration_status IN ('Accepted', 'Pending', 'Rejected')),
    auto_registered        boolean NOT NULL DEFAULT false,
    -- from BootNotification
    vendor                 text,
    model                  text,
    serial_number          text,       -- chargePointSerialNumber
    charge_box_serial      text,
    firmware_version       text,
    iccid                  text,
    imsi                   text,
    meter_type             text,
    meter_serial           text,
    last_boot_at           timestamptz,
    -- operator data
    max_available_current  numeric,
    time_zone              text,
    latitude               double precision,
    longitude              double precision,
    commissioning_date     date,
    -- connection state
    connected              boolean NOT NULL DEFAULT false,
    connected_at           timestamptz,
    disconnected_at        timestamptz,
    last_seen_at           timestamptz,
    remote_addr            text,
    firmware_status        text,
    firmware_status_at     timestamptz,
    diagnostics_status     text,
    diagnostics_status_at  timestamptz,
    created_at             timestamptz NOT NULL DEFAULT now(),
    updated_at             timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX chargers_site_idx ON chargers (site_id);

CREATE TABLE connectors (
    charger_id         text NOT NULL REFERENCES chargers(id) ON DELETE CASCADE,
    connector_id       integer NOT NULL CHECK (connector_id >= 0),
    status             text NOT NULL,
    error_code         text NOT NULL DEFAULT 'NoError',
    info               text,
    vendor_id          text,
    vendor_error_code  text,
    status_at          timestamptz,       -- the charger's timestamp, if sent
    updated_at         timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (charger_id, connector_id)
);

CREATE TABLE status_history (
    id                 bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    charger_id         text NOT NULL,
    connector_id       integer NOT NULL,
    status             text NOT NULL,
    error_code         text NOT NULL,
    info               text,
    vendor_id          text,
    vendor_error_code  text,
    status_at          timestamptz,
    received_at        timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX status_history_charger_idx ON status_history (charger_id, id);

-- Connection, boot and security events of a charger (connect/disconnect
-- times, replaced connections, failed authentication, firmware/diagnostics).
CREATE TABLE charger_events (
    id          bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    charger_id  text NOT NULL,
    kind        text NOT NULL,
    detail      text,
    at          timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX charger_events_charger_idx ON charger_events (charger_id, id);

CREATE TABLE tokens (
    id_tag         text PRIMARY KEY CHECK (length(id_tag) BETWEEN 1 AND 20),
    status         text NOT NULL DEFAULT 'Accepted'
                   CHECK (status IN ('Accepted', 'Blocked', 'Expired', 'Invalid')),
    expiry_date    timestamptz,
    parent_id_tag  text CHECK (length(parent_id_tag) <= 20),
    name           text,
    created_at     timestamptz NOT NULL DEFAULT now(),
    updated_at     timestamptz NOT NULL DEFAULT now()
);

CREATE TABLE sessions (
    id               bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    transaction_id   integer NOT NULL UNIQUE CHECK (transaction_id > 0),
    charger_id       text NOT NULL,        -- no FK: deleting a charger keeps its sessions
    connector_id     integer NOT NULL,
    id_tag           text NOT NULL,
    auth_status      text NOT NULL,        -- idTagInfo.status answered at start
    reservation_id   integer,
    status           text NOT NULL DEFAULT 'active' CHECK (status IN ('active', 'completed')),
    start_time       timestamptz NOT NULL, -- the charger's timestamp
    end_time         timestamptz,
    meter_start      bigint NOT NULL,
    meter_stop       bigint,
    energy_wh        bigint,
    meter_anomaly    boolean NOT NULL DEFAULT false,  -- meterStop < meterStart
    stop_reason      text,
    stop_id_tag      text,
    cost             bigint,               -- minor units
    currency         text,
    created_at       timestamptz NOT NULL DEFAULT now(),
    updated_at       timestamptz NOT NULL DEFAULT now(),
    -- the same StartTransaction retried is the same session
    UNIQUE (charger_id, connector_id, id_tag, start_time, meter_start)
);
CREATE INDEX sessions_charger_idx ON sessions (charger_id, id);
CREATE INDEX sessions_active_idx ON sessions (charger_id, connector_id) WHERE status = 'active';
CREATE INDEX sessions_id_tag_idx ON sessions (id_tag, id);
CREATE INDEX sessions_start_idx ON sessions (start_time);

-- StopTransaction for an unknown transaction or another charger's: answered,
-- kept here, changes no session.
CREATE TABLE orphan_stops (
    id              bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    charger_id      text NOT NULL,
    transaction_id  integer NOT NULL,
    id_tag          text,
    meter_stop      bigint NOT NULL,
    stop_time       timestamptz NOT NULL,
    reason          text,
    received_at     timestamptz NOT NULL DEFAULT now(),
    UNIQUE (charger_id, transaction_id, stop_time, meter_stop)
);

-- One row per MeterValues (or StopTransaction transactionData) message; the
-- digest of its payload makes a retried message a no-op.
-- charger_id here and in meter_values compares bytewise (COLLATE "C"): it is
-- an identifier, and these are the indexes every MeterValues message
-- updates (the linguistic default collation costs ~30% of the insert rate).
CREATE TABLE meter_messages (
    id           bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    charger_id   text COLLATE "C" NOT NULL,
    digest       bigint NOT NULL,
    received_at  timestamptz NOT NULL DEFAULT now(),
    UNIQUE (charger_id, digest)
);

CREATE TABLE meter_values (
    id              bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    message_id      bigint NOT NULL,
    charger_id      text COLLATE "C" NOT NULL,
    connector_id    integer NOT NULL,
    transaction_id  integer,
    session_id      bigint,
    ts              timestamptz NOT NULL,
    value           text NOT NULL,
    measurand       text NOT NULL,
    unit            text NOT NULL,
    context         text NOT NULL,
    format          text NOT NULL,
    phase           text,
    location        text NOT NULL,
    received_at     timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX meter_values_session_idx ON meter_values (session_id, id) WHERE session_id IS NOT NULL;
CREATE INDEX meter_values_charger_idx ON meter_values (charger_id, ts);

CREATE TABLE data_transfers (
    id           bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    charger_id   text NOT NULL,
    vendor_id    text NOT NULL,
    message_id   text,
    data         text,
    received_at  timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX data_transfers_charger_idx ON data_transfers (charger_id, id);

CREATE TABLE api_keys (
    id            bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    name          text NOT NULL,
    key_prefix    text NOT NULL,            -- first characters, to recognise a key
    key_hash      text NOT NULL UNIQUE,     -- hex SHA-256 of the whole key
    scopes        text[] NOT NULL,
    charger_ids   text[],                   -- NULL = all chargers
    site_ids      text[],                   -- NULL = all sites
    expires_at    timestamptz,
    created_at    timestamptz NOT NULL DEFAULT now(),
    last_used_at  timestamptz,
    revoked_at    timestamptz
);

CREATE TABLE audit_log (
    id          bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    at          timestamptz NOT NULL DEFAULT now(),
    actor       text NOT NULL,              -- "apikey:<id>", "cli", "system"
    action      text NOT NULL,              -- e.g. "charger.create", "apikey.revoke"
    resource    text,
    detail      jsonb,
    result      text NOT NULL,
    request_id  text
);

-- The registry in the gateway follows this table: any change that matters
-- to a connecting charger is announced, whoever made it.
CREATE FUNCTION ocppgw_notify_charger() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
    IF TG_OP = 'DELETE' THEN
        PERFORM pg_notify('ocppgw_charger', OLD.id);
        RETURN OLD;
    END IF;
    PERFORM pg_notify('ocppgw_charger', NEW.id);
    RETURN NEW;
END $$;

CREATE TRIGGER chargers_notify_ins_del AFTER INSERT OR DELETE ON chargers
    FOR EACH ROW EXECUTE FUNCTION ocppgw_notify_charger();
CREATE TRIGGER chargers_notify_upd AFTER UPDATE OF auth_hash, security_profile, registration_status
    ON chargers FOR EACH ROW EXECUTE FUNCTION ocppgw_notify_charger();
