-- The change feed for live streams across instances: every change to a request, its decisions,
-- operations, steps, backups, verifications or re-enable asks sends `request:<id>` on channel
-- `deprov_changes`, and a change to accepted exceptions sends `exceptions`. NOTIFY is delivered at
-- commit (never for a rolled-back change) and identical ones in a transaction are sent once.
-- Every instance LISTENs (`server/src/store/changes.rs`) and refreshes what its browsers follow.
CREATE FUNCTION deprov_request_changed() RETURNS trigger LANGUAGE plpgsql AS $$
DECLARE
    request BIGINT;
BEGIN
    IF TG_TABLE_NAME = 'requests' THEN
        request := NEW.id;
    ELSIF TG_TABLE_NAME = 'steps' THEN
        SELECT request_id INTO request FROM operations WHERE id = NEW.operation_id;
    ELSE
        request := NEW.request_id;
    END IF;
    PERFORM pg_notify('deprov_changes', 'request:' || request);
    RETURN NULL;
END $$;

CREATE TRIGGER requests_changed AFTER INSERT OR UPDATE ON requests
    FOR EACH ROW EXECUTE FUNCTION deprov_request_changed();
CREATE TRIGGER decisions_changed AFTER INSERT OR UPDATE ON decisions
    FOR EACH ROW EXECUTE FUNCTION deprov_request_changed();
-- Not on lease renewals (lease_expires_at alone), which would wake every instance for nothing.
CREATE TRIGGER operations_changed AFTER INSERT OR UPDATE OF state, driven_by, finished_at ON operations
    FOR EACH ROW EXECUTE FUNCTION deprov_request_changed();
CREATE TRIGGER steps_changed AFTER INSERT OR UPDATE ON steps
    FOR EACH ROW EXECUTE FUNCTION deprov_request_changed();
CREATE TRIGGER backups_changed AFTER INSERT OR UPDATE ON backups
    FOR EACH ROW EXECUTE FUNCTION deprov_request_changed();
CREATE TRIGGER verifications_changed AFTER INSERT OR UPDATE ON verifications
    FOR EACH ROW EXECUTE FUNCTION deprov_request_changed();
CREATE TRIGGER reenable_asks_changed AFTER INSERT OR UPDATE ON reenable_asks
    FOR EACH ROW EXECUTE FUNCTION deprov_request_changed();

-- A re-enable ask is deleted when confirmed or made stale: the request's page changes then too.
CREATE FUNCTION deprov_ask_removed() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    PERFORM pg_notify('deprov_changes', 'request:' || OLD.request_id);
    RETURN NULL;
END $$;
CREATE TRIGGER reenable_asks_removed AFTER DELETE ON reenable_asks
    FOR EACH ROW EXECUTE FUNCTION deprov_ask_removed();

CREATE FUNCTION deprov_exceptions_changed() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    PERFORM pg_notify('deprov_changes', 'exceptions');
    RETURN NULL;
END $$;
CREATE TRIGGER accepted_exceptions_changed AFTER INSERT OR UPDATE OR DELETE ON accepted_exceptions
    FOR EACH STATEMENT EXECUTE FUNCTION deprov_exceptions_changed();
