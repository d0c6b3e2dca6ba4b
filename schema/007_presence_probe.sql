-- 007_presence_probe: a user's first and last connection to a room found
-- by reading at most two of the room's presence rows for that user, not
-- all of them.
--
-- 001's presence triggers counted every row of the (room, user) pair
-- (a locking read) on each insert and delete: a user with many
-- connections to one room (tabs, devices, load tests) made each new one
-- read and share-lock all the others, so the work of a connect grew with
-- the number already open. The decisions need only: does another row of
-- the pair exist? The AFTER INSERT trigger reads at most two rows (its
-- own and one other), the AFTER DELETE trigger at most one. Same events,
-- same rule as before: the room lock taken first (the BEFORE triggers,
-- unchanged) serializes every presence writer of the room, and the
-- probes are locking reads, so each 0->1 and 1->0 is seen exactly once.

CREATE OR REPLACE TRIGGER tr_presence_ai AFTER INSERT ON presence FOR EACH ROW
BEGIN
	DECLARE n BIGINT DEFAULT 0;
	SELECT COUNT(*) INTO n FROM (SELECT 1 FROM presence
		WHERE room_id = NEW.room_id AND user_id = NEW.user_id
		LIMIT 2 LOCK IN SHARE MODE) probe;
	IF n = 1 THEN
		INSERT INTO chat_events (room_id, kind, user_id, created_at)
			VALUES (NEW.room_id, 'presence_join', NEW.user_id, UTC_TIMESTAMP(3));
	END IF;
END;

CREATE OR REPLACE TRIGGER tr_presence_ad AFTER DELETE ON presence FOR EACH ROW
BEGIN
	DECLARE n BIGINT DEFAULT 0;
	SELECT COUNT(*) INTO n FROM (SELECT 1 FROM presence
		WHERE room_id = OLD.room_id AND user_id = OLD.user_id
		LIMIT 1 LOCK IN SHARE MODE) probe;
	IF n = 0 THEN
		INSERT INTO chat_events (room_id, kind, user_id, created_at)
			VALUES (OLD.room_id, 'presence_leave', OLD.user_id, UTC_TIMESTAMP(3));
	END IF;
END;
