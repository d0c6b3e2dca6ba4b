-- 003_client_id_per_room: a client_id names one message of one sender in
-- one room. 001's key (sender_id, client_id) let a sender's retry in room 1
-- find (and answer with) a message of room 2, and silently dropped the new
-- message.
--
-- The new key keeps sender_id first (it also serves fk_messages_sender)
-- and client_id second, so a batch looks up all its client_ids with one
-- (sender_id, client_id) IN (...) range read; room_id ends it.
--
-- Existing rows satisfy the new key (the old one was stricter). One ALTER:
-- the old index goes only when the new one is there, so the foreign key is
-- never without an index. Safe to run again.

ALTER TABLE messages
	DROP INDEX IF EXISTS uq_messages_client,
	ADD UNIQUE KEY IF NOT EXISTS uq_messages_client_room (sender_id, client_id, room_id);
