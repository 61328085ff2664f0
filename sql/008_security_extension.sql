-- ocppgw schema, version 8: the charger-initiated messages of the OCPP 1.6
-- Security Extension (white paper edition 3).
--
-- security_events: what chargers report with SecurityEventNotification
-- (GET /v1/chargers/{id}/security-events, cursor pages by id). The
-- gateway's own security observations (failed authentication, replaced
-- connections, refused CSRs) stay in charger_events. No foreign key to
-- chargers: the history outlives a deleted charger, as status history does.
CREATE TABLE security_events (
    id          bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    charger_id  text NOT NULL,
    type        text NOT NULL,              -- the white paper's type, e.g. "FirmwareUpdated"
    event_at    timestamptz NOT NULL,       -- the charger's timestamp
    tech_info   text,
    received_at timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX security_events_charger_idx ON security_events (charger_id, id);

-- The last SignedFirmwareStatusNotification and LogStatusNotification of
-- each charger, beside firmware_status and diagnostics_status.
ALTER TABLE chargers
    ADD COLUMN signed_firmware_status      text,
    ADD COLUMN signed_firmware_request_id  integer,
    ADD COLUMN signed_firmware_status_at   timestamptz,
    ADD COLUMN log_status                  text,
    ADD COLUMN log_request_id              integer,
    ADD COLUMN log_status_at               timestamptz;

-- Who asked for a command: an API client ("api"), or the gateway itself
-- ("gateway": the CertificateSigned that follows a SignCertificate).
ALTER TABLE commands
    ADD COLUMN origin text NOT NULL DEFAULT 'api' CHECK (origin IN ('api', 'gateway'));

CREATE FUNCTION ocppgw_security_event(p_charger text, p_type text, p_event_ms bigint,
                                      p_tech_info text, p_received_ms bigint)
RETURNS void
LANGUAGE sql AS $$
    INSERT INTO security_events (charger_id, type, event_at, tech_info, received_at)
    VALUES (p_charger, p_type, ocppgw_ts(p_event_ms), nullif(p_tech_info, ''),
            coalesce(ocppgw_ts(p_received_ms), now()));
$$;

-- p_kind: 'signed_firmware' or 'log'. Also a row of charger_events, as the
-- firmware and diagnostics statuses have.
CREATE FUNCTION ocppgw_request_status(p_charger text, p_kind text, p_status text,
                                      p_request_id integer, p_at_ms bigint)
RETURNS void
LANGUAGE plpgsql AS $$
DECLARE
    v_at timestamptz := coalesce(ocppgw_ts(p_at_ms), now());
BEGIN
    IF p_kind = 'signed_firmware' THEN
        UPDATE chargers SET signed_firmware_status = p_status, signed_firmware_request_id = p_request_id,
                            signed_firmware_status_at = v_at, updated_at = now()
         WHERE id = p_charger;
    ELSE
        UPDATE chargers SET log_status = p_status, log_request_id = p_request_id,
                            log_status_at = v_at, updated_at = now()
         WHERE id = p_charger;
    END IF;
    PERFORM ocppgw_charger_event(p_charger, p_kind || '_status',
                                 p_status || coalesce(' request ' || p_request_id, ''), p_at_ms);
END $$;
