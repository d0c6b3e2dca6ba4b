-- 009_presence_close: a presence row deleted by the programs' closing
-- batch costs no room update of its own.
--
-- The BEFORE DELETE trigger's room update serializes presence writers of
-- a room. The programs' closing batch (shared/dal_presence.c) reads its
-- rows' rooms, locks them all in ascending id order by one UPDATE that
-- also sets last_event_at, marks its DELETEs with @chat_rooms_locked (as
-- 008's opening batch marks its INSERTs), and deletes its rows 64 to a
-- statement; the trigger then leaves the room alone. Every other writer
-- (a hand-written DELETE, a room's cascade) leaves the variable NULL and
-- locks the room as before. A database without 009 ignores the mark.

CREATE OR REPLACE TRIGGER tr_presence_bd BEFORE DELETE ON presence FOR EACH ROW
	IF @chat_rooms_locked IS NULL THEN
		UPDATE rooms SET last_event_at = UTC_TIMESTAMP(3) WHERE id = OLD.room_id;
	END IF;
