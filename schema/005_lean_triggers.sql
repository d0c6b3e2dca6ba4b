-- 005_lean_triggers: three statements per stored message instead of five.
--
-- Before, per message: the BEFORE trigger's room lock (UPDATE rooms SET
-- last_event_at), then the chat_events row, the room's message_count, the
-- sender's room_sender_counts upsert and a read_positions probe (UPDATE
-- ... WHERE last_read_id >= the new id) that finds nothing unless a
-- position is at or above the new id. Now:
-- - BEFORE INSERT: one UPDATE of the room row takes its lock (the ordering
--   rule), counts the message if it is live, and reads rooms.max_read_id;
-- - AFTER INSERT: the chat_events row, the sender's counter, and the probe
--   only when the new id is at or below max_read_id.
--
-- rooms.max_read_id bounds the room's read positions from above: the
-- highest last_read_id any of its positions has had (set by the
-- read_positions triggers, which update the room row anyway; never
-- lowered, so a position moved back or deleted leaves it high, which only
-- costs probes). An id above it is above every position: nothing to
-- adjust. The sequence gives ids above every message, so the probe runs
-- only for ids given by hand or below a position set by SQL beyond the
-- newest message (tests/integration test_unread_hand_ids).
--
-- The bound goes from the row's BEFORE trigger to its AFTER trigger in the
-- session variable @chat_max_read_id: the room UPDATE sets it, the AFTER
-- trigger reads and clears it; NULL (no room row was updated) probes.
--
-- Limit: the message is counted BEFORE it is stored. A row that INSERT
-- IGNORE skips, or that INSERT ... ON DUPLICATE KEY UPDATE turns into an
-- update, leaves the room's message_count one too high (the programs never
-- write messages that way; docs/schema.md gives the recount that repairs
-- it). A statement that fails is rolled back whole, counter included.
--
-- Apply with the writers stopped: the backfill and the new triggers are
-- not one atomic step.

ALTER TABLE rooms
	ADD COLUMN IF NOT EXISTS max_read_id BIGINT UNSIGNED NOT NULL DEFAULT 0;

-- ---- read_positions (002's logic, plus max_read_id) ---------------------

CREATE OR REPLACE TRIGGER tr_read_positions_bi BEFORE INSERT ON read_positions FOR EACH ROW
BEGIN
	UPDATE rooms SET last_event_at = UTC_TIMESTAMP(3),
		max_read_id = GREATEST(max_read_id, NEW.last_read_id) WHERE id = NEW.room_id;
	SET NEW.read_live_count = (SELECT COUNT(*) FROM messages
		WHERE room_id = NEW.room_id AND deleted_at IS NULL
		AND id <= NEW.last_read_id AND sender_id <> NEW.user_id);
END;

CREATE OR REPLACE TRIGGER tr_read_positions_bu BEFORE UPDATE ON read_positions FOR EACH ROW
BEGIN
	IF NOT (OLD.user_id <=> NEW.user_id AND OLD.room_id <=> NEW.room_id) THEN
		UPDATE rooms SET last_event_at = UTC_TIMESTAMP(3),
			max_read_id = GREATEST(max_read_id, NEW.last_read_id) WHERE id = NEW.room_id;
		SET NEW.read_live_count = (SELECT COUNT(*) FROM messages
			WHERE room_id = NEW.room_id AND deleted_at IS NULL
			AND id <= NEW.last_read_id AND sender_id <> NEW.user_id);
	ELSEIF NEW.last_read_id > OLD.last_read_id THEN
		UPDATE rooms SET last_event_at = UTC_TIMESTAMP(3),
			max_read_id = GREATEST(max_read_id, NEW.last_read_id) WHERE id = NEW.room_id;
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

-- ---- messages: insert ----------------------------------------------------

CREATE OR REPLACE TRIGGER tr_messages_bi BEFORE INSERT ON messages FOR EACH ROW
	UPDATE rooms SET last_event_at = UTC_TIMESTAMP(3),
		message_count = message_count + (NEW.deleted_at IS NULL),
		max_read_id = (@chat_max_read_id := max_read_id)
	WHERE id = NEW.room_id;

CREATE OR REPLACE TRIGGER tr_messages_ai AFTER INSERT ON messages FOR EACH ROW
BEGIN
	INSERT INTO chat_events (room_id, kind, ref_id, user_id, created_at)
		VALUES (NEW.room_id, 'message_created', NEW.id, NEW.sender_id, UTC_TIMESTAMP(3));
	IF NEW.deleted_at IS NULL THEN
		INSERT INTO room_sender_counts (room_id, sender_id, live_count)
			VALUES (NEW.room_id, NEW.sender_id, 1)
			ON DUPLICATE KEY UPDATE live_count = live_count + 1;
		IF @chat_max_read_id IS NULL OR NEW.id <= @chat_max_read_id THEN
			UPDATE read_positions SET read_live_count = read_live_count + 1
				WHERE room_id = NEW.room_id AND last_read_id >= NEW.id
				AND user_id <> NEW.sender_id;
		END IF;
	END IF;
	SET @chat_max_read_id = NULL;
END;

-- ---- backfill ------------------------------------------------------------
-- After the triggers: positions written from here on raise the bound.

UPDATE rooms r SET r.max_read_id = COALESCE((SELECT MAX(p.last_read_id)
	FROM read_positions p WHERE p.room_id = r.id), 0);
