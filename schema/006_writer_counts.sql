-- 006_writer_counts: one trigger statement per message stored by the
-- programs' batch writer, instead of three.
--
-- The DAL's batch (shared/dal_messages.c) already holds every room of the
-- batch locked (SELECT ... FOR UPDATE, ascending) before it inserts, and
-- knows how many messages each room and each sender gets. It marks its
-- INSERT statements by setting the session variable @chat_writer_counts
-- (and @chat_max_read_id to the highest rooms.max_read_id of the batch's
-- rooms, read under that lock), then adds the counts itself once per batch:
-- one UPDATE of the rooms (last_event_at, message_count) and one
-- multi-row upsert of room_sender_counts, in the same transaction. Per
-- message the triggers then run only the chat_events row (every message
-- still gets its event from the trigger, in its transaction), plus the
-- read_positions probe in the rare case 005 describes.
--
-- Every other writer (hand-written SQL, older programs) leaves the variable
-- NULL and gets 005's triggers unchanged. The writer clears the variables
-- after its INSERTs; the only statements that write messages on the
-- programs' connections are the batch's, which set them again.

CREATE OR REPLACE TRIGGER tr_messages_bi BEFORE INSERT ON messages FOR EACH ROW
	IF @chat_writer_counts IS NULL THEN
		UPDATE rooms SET last_event_at = UTC_TIMESTAMP(3),
			message_count = message_count + (NEW.deleted_at IS NULL),
			max_read_id = (@chat_max_read_id := max_read_id)
		WHERE id = NEW.room_id;
	END IF;

CREATE OR REPLACE TRIGGER tr_messages_ai AFTER INSERT ON messages FOR EACH ROW
BEGIN
	INSERT INTO chat_events (room_id, kind, ref_id, user_id, created_at)
		VALUES (NEW.room_id, 'message_created', NEW.id, NEW.sender_id, UTC_TIMESTAMP(3));
	IF @chat_writer_counts IS NULL THEN
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
	ELSEIF NEW.deleted_at IS NULL AND (@chat_max_read_id IS NULL OR NEW.id <= @chat_max_read_id) THEN
		UPDATE read_positions SET read_live_count = read_live_count + 1
			WHERE room_id = NEW.room_id AND last_read_id >= NEW.id
			AND user_id <> NEW.sender_id;
	END IF;
END;
