-- 002_unread_counters: unread counts without scanning messages.
--
-- read_positions.read_live_count holds how many live (not deleted)
-- messages from OTHER users the user has read in the room: those with
-- id <= last_read_id, sender_id <> user_id, deleted_at IS NULL. Then
--   unread = rooms.message_count - (the user's room_sender_counts.live_count)
--            - read_positions.read_live_count
-- with no scan, whatever the position.
--
-- Kept by triggers, so any writer (the programs or hand-written SQL) keeps
-- it right:
-- - read_positions BEFORE INSERT counts the messages up to the position;
--   BEFORE UPDATE, when the position moves, counts only the range between
--   the old and the new id (one bounded range of ix_messages_room_live).
--   Both take the room's lock first (the ordering rule), so no message of
--   the room changes while they count.
-- - messages AFTER INSERT / UPDATE / DELETE: a message that becomes live
--   or stops being live (insert, delete, undelete, hard DELETE, a change of
--   room or sender by SQL) adjusts the rows of that room whose position is
--   at or above its id, except the sender's own (index
--   ix_read_positions_room_read). Their existing logic from 001 is kept
--   unchanged.
-- Limit (as for the 001 counters): rows removed by a foreign-key cascade
-- fire no triggers; a user deletion cascading to messages leaves other
-- users' read_live_count too high (the programs never delete users).
--
-- Apply with the writers stopped: the backfill below and the new triggers
-- are not one atomic step.

ALTER TABLE read_positions
	ADD COLUMN IF NOT EXISTS read_live_count BIGINT NOT NULL DEFAULT 0,
	ADD INDEX IF NOT EXISTS ix_read_positions_room_read (room_id, last_read_id),
	-- its prefix serves the foreign key now
	DROP INDEX IF EXISTS ix_read_positions_room;

-- ---- read_positions ----------------------------------------------------

CREATE OR REPLACE TRIGGER tr_read_positions_bi BEFORE INSERT ON read_positions FOR EACH ROW
BEGIN
	UPDATE rooms SET last_event_at = UTC_TIMESTAMP(3) WHERE id = NEW.room_id;
	SET NEW.read_live_count = (SELECT COUNT(*) FROM messages
		WHERE room_id = NEW.room_id AND deleted_at IS NULL
		AND id <= NEW.last_read_id AND sender_id <> NEW.user_id);
END;

CREATE OR REPLACE TRIGGER tr_read_positions_bu BEFORE UPDATE ON read_positions FOR EACH ROW
BEGIN
	IF NOT (OLD.user_id <=> NEW.user_id AND OLD.room_id <=> NEW.room_id) THEN
		UPDATE rooms SET last_event_at = UTC_TIMESTAMP(3) WHERE id = NEW.room_id;
		SET NEW.read_live_count = (SELECT COUNT(*) FROM messages
			WHERE room_id = NEW.room_id AND deleted_at IS NULL
			AND id <= NEW.last_read_id AND sender_id <> NEW.user_id);
	ELSEIF NEW.last_read_id > OLD.last_read_id THEN
		UPDATE rooms SET last_event_at = UTC_TIMESTAMP(3) WHERE id = NEW.room_id;
		SET NEW.read_live_count = OLD.read_live_count + (SELECT COUNT(*) FROM messages
			WHERE room_id = NEW.room_id AND deleted_at IS NULL
			AND id > OLD.last_read_id AND id <= NEW.last_read_id
			AND sender_id <> NEW.user_id);
	ELSEIF NEW.last_read_id < OLD.last_read_id THEN
		UPDATE rooms SET last_event_at = UTC_TIMESTAMP(3) WHERE id = NEW.room_id;
		SET NEW.read_live_count = OLD.read_live_count - (SELECT COUNT(*) FROM messages
			WHERE room_id = NEW.room_id AND deleted_at IS NULL
			AND id > NEW.last_read_id AND id <= OLD.last_read_id
			AND sender_id <> NEW.user_id);
	END IF;
END;

-- ---- messages (001's logic, plus read_live_count) ----------------------

CREATE OR REPLACE TRIGGER tr_messages_ai AFTER INSERT ON messages FOR EACH ROW
BEGIN
	INSERT INTO chat_events (room_id, kind, ref_id, user_id, created_at)
		VALUES (NEW.room_id, 'message_created', NEW.id, NEW.sender_id, UTC_TIMESTAMP(3));
	IF NEW.deleted_at IS NULL THEN
		UPDATE rooms SET message_count = message_count + 1 WHERE id = NEW.room_id;
		INSERT INTO room_sender_counts (room_id, sender_id, live_count)
			VALUES (NEW.room_id, NEW.sender_id, 1)
			ON DUPLICATE KEY UPDATE live_count = live_count + 1;
		-- Only an id given by hand can be at or below a position: one
		-- index probe that normally finds nothing.
		UPDATE read_positions SET read_live_count = read_live_count + 1
			WHERE room_id = NEW.room_id AND last_read_id >= NEW.id
			AND user_id <> NEW.sender_id;
	END IF;
END;

CREATE OR REPLACE TRIGGER tr_messages_au AFTER UPDATE ON messages FOR EACH ROW
BEGIN
	-- Counters: the old row leaves them if it was live, the new one
	-- enters if it is (covers deletion, undeletion and moves by SQL).
	IF NOT (OLD.room_id <=> NEW.room_id AND OLD.sender_id <=> NEW.sender_id
	        AND (OLD.deleted_at IS NULL) = (NEW.deleted_at IS NULL)) THEN
		IF OLD.deleted_at IS NULL THEN
			UPDATE rooms SET message_count = message_count - 1 WHERE id = OLD.room_id;
			UPDATE room_sender_counts SET live_count = live_count - 1
				WHERE room_id = OLD.room_id AND sender_id = OLD.sender_id;
			UPDATE read_positions SET read_live_count = read_live_count - 1
				WHERE room_id = OLD.room_id AND last_read_id >= OLD.id
				AND user_id <> OLD.sender_id;
		END IF;
		IF NEW.deleted_at IS NULL THEN
			UPDATE rooms SET message_count = message_count + 1 WHERE id = NEW.room_id;
			INSERT INTO room_sender_counts (room_id, sender_id, live_count)
				VALUES (NEW.room_id, NEW.sender_id, 1)
				ON DUPLICATE KEY UPDATE live_count = live_count + 1;
			UPDATE read_positions SET read_live_count = read_live_count + 1
				WHERE room_id = NEW.room_id AND last_read_id >= NEW.id
				AND user_id <> NEW.sender_id;
		END IF;
	END IF;
	IF OLD.deleted_at IS NULL AND NEW.deleted_at IS NOT NULL THEN
		INSERT INTO chat_events (room_id, kind, ref_id, user_id, created_at)
			VALUES (NEW.room_id, 'message_deleted', NEW.id, NEW.sender_id, UTC_TIMESTAMP(3));
	ELSEIF NEW.deleted_at IS NULL AND NOT (OLD.content <=> NEW.content) THEN
		INSERT INTO chat_events (room_id, kind, ref_id, user_id, created_at)
			VALUES (NEW.room_id, 'message_updated', NEW.id, NEW.sender_id, UTC_TIMESTAMP(3));
	END IF;
END;

-- A hard DELETE (admin SQL) is a deletion for the clients too.
CREATE OR REPLACE TRIGGER tr_messages_ad AFTER DELETE ON messages FOR EACH ROW
BEGIN
	IF OLD.deleted_at IS NULL THEN
		UPDATE rooms SET message_count = message_count - 1 WHERE id = OLD.room_id;
		UPDATE room_sender_counts SET live_count = live_count - 1
			WHERE room_id = OLD.room_id AND sender_id = OLD.sender_id;
		UPDATE read_positions SET read_live_count = read_live_count - 1
			WHERE room_id = OLD.room_id AND last_read_id >= OLD.id
			AND user_id <> OLD.sender_id;
		INSERT INTO chat_events (room_id, kind, ref_id, user_id, created_at)
			VALUES (OLD.room_id, 'message_deleted', OLD.id, OLD.sender_id, UTC_TIMESTAMP(3));
	END IF;
END;

-- ---- backfill ----------------------------------------------------------
-- After the triggers: rows written from here on are kept by them. Each
-- count is one range of ix_messages_room_live.

UPDATE read_positions rp SET rp.read_live_count = (SELECT COUNT(*) FROM messages m
	WHERE m.room_id = rp.room_id AND m.deleted_at IS NULL
	AND m.id <= rp.last_read_id AND m.sender_id <> rp.user_id);
