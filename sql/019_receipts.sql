-- ocppgw schema, version 19: receipt numbers of priced sessions (issue 13;
-- ../shared/spec/sites-and-tariffs.md, "Receipts"; docs/architecture.md,
-- "Time zones and session cost"; GET /v1/sessions/{id}/receipt).
--
-- A receipt number is "<prefix>-<number>", the number zero-padded to six
-- digits (more once past 999999). Numbers are gapless and never reused per
-- prefix: each prefix has one counter row here, and the pricing job
-- (src/store/pricing_job.c) takes the next number with
-- ocppgw_receipt_next() in the transaction that writes the session's cost.
-- A sequence would not do: a rolled-back transaction burns its numbers; a
-- counter row rolls back with the cost write, and its row lock orders the
-- writers of one prefix (each gateway has its own prefix, receipts.prefix,
-- default its cluster.node_id, so gateways do not wait on one another; two
-- given the same prefix share one series, still gapless and unique).
--
-- The number is written once: a session that has one keeps it (re-pricing
-- never changes it), and only a session priced with a cost gets one.
CREATE TABLE receipt_counters (
    prefix text PRIMARY KEY CHECK (prefix ~ '^[A-Za-z0-9._:-]{1,64}$'),
    last   bigint NOT NULL CHECK (last >= 0)
);

-- cost_zone: the zone the pricing read the tariff's windows in (the site's,
-- else the charger's, else UTC, when it priced), which the receipt shows
-- the local times in; NULL for sessions priced before this version (the
-- receipt then applies the same rule now).
ALTER TABLE sessions
    ADD COLUMN receipt_number text UNIQUE,
    ADD COLUMN cost_zone      text;

-- The next number of p_prefix, formatted; the counter row stays locked until
-- the caller's transaction ends.
CREATE FUNCTION ocppgw_receipt_next(p_prefix text) RETURNS text
LANGUAGE plpgsql VOLATILE AS $$
DECLARE
    v_n bigint;
BEGIN
    UPDATE receipt_counters SET last = last + 1 WHERE prefix = p_prefix RETURNING last INTO v_n;
    IF NOT FOUND THEN
        INSERT INTO receipt_counters AS c (prefix, last) VALUES (p_prefix, 1)
            ON CONFLICT (prefix) DO UPDATE SET last = c.last + 1
            RETURNING c.last INTO v_n;
    END IF;
    RETURN p_prefix || '-' || CASE WHEN v_n < 1000000 THEN lpad(v_n::text, 6, '0') ELSE v_n::text END;
END $$;

-- Sessions priced before this version: numbered under the prefix "R" in
-- order of their stop (then id), and the counter "R" left at their count,
-- so a gateway configured with receipts.prefix = R goes on from there.
WITH priced AS (
    SELECT id, row_number() OVER (ORDER BY end_time, id) AS n
      FROM sessions
     WHERE cost_state = 'final' AND cost IS NOT NULL
)
UPDATE sessions s
   SET receipt_number = 'R-' || CASE WHEN p.n < 1000000 THEN lpad(p.n::text, 6, '0') ELSE p.n::text END
  FROM priced p
 WHERE s.id = p.id;
INSERT INTO receipt_counters (prefix, last)
SELECT 'R', count(*) FROM sessions WHERE receipt_number LIKE 'R-%' HAVING count(*) > 0;
