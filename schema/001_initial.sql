-- 001_initial: tables, the reserved anonymous user, and the triggers that
-- write chat_events (the outbox) for every change clients must hear of.
--
-- Ordering rule: every write that touches a room takes that room's row lock
-- FIRST (the BEFORE triggers below run UPDATE rooms SET last_event_at = ...
-- before InnoDB assigns the new row's auto-increment id), so within one room
-- message ids and event ids commit in ascending order. The AFTER triggers
-- then insert the chat_events row while the lock is held.
--
-- All times are UTC (UTC_TIMESTAMP), whatever the session time zone.
-- Applied by `chatctl migrate` in one multi-statement batch; the objects use
-- IF NOT EXISTS / OR REPLACE so a batch cut short can be run again.

CREATE TABLE IF NOT EXISTS schema_version (
	version INT UNSIGNED NOT NULL PRIMARY KEY,
	name VARCHAR(200) NOT NULL,
	applied_at DATETIME(3) NOT NULL DEFAULT UTC_TIMESTAMP(3)
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_unicode_ci;

CREATE TABLE IF NOT EXISTS users (
	id BIGINT UNSIGNED NOT NULL AUTO_INCREMENT PRIMARY KEY,
	-- utf8mb4_unicode_ci: names compare case-insensitively ("Alice" = "alice").
	username VARCHAR(150) CHARACTER SET utf8mb4 COLLATE utf8mb4_unicode_ci NOT NULL,
	password_hash VARCHAR(255) CHARACTER SET ascii COLLATE ascii_bin NOT NULL DEFAULT '',
	is_active TINYINT(1) NOT NULL DEFAULT 1,
	created_at DATETIME(3) NOT NULL DEFAULT UTC_TIMESTAMP(3),
	UNIQUE KEY uq_users_username (username)
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_unicode_ci;

-- Id 1 is the built-in anonymous user: active (usable when the
-- configuration allows anonymous access) but with no password, so it can
-- never log in.
INSERT IGNORE INTO users (id, username, password_hash, is_active)
	VALUES (1, 'anonymous', '', 1);

CREATE TABLE IF NOT EXISTS rooms (
	id BIGINT UNSIGNED NOT NULL AUTO_INCREMENT PRIMARY KEY,
	name VARCHAR(100) NOT NULL,
	description VARCHAR(1000) NOT NULL DEFAULT '',
	is_private TINYINT(1) NOT NULL DEFAULT 0,
	created_by BIGINT UNSIGNED NULL,
	created_at DATETIME(3) NOT NULL DEFAULT UTC_TIMESTAMP(3),
	-- Touched by every writer of the room: the row lock that orders ids.
	last_event_at DATETIME(3) NULL,
	-- Live (not deleted) messages, kept by the messages triggers: the
	-- unread count of a user who never read the room without a scan.
	message_count BIGINT NOT NULL DEFAULT 0,
	KEY ix_rooms_private (is_private, id),
	CONSTRAINT fk_rooms_created_by FOREIGN KEY (created_by) REFERENCES users (id)
		ON DELETE SET NULL
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_unicode_ci;

CREATE TABLE IF NOT EXISTS room_members (
	room_id BIGINT UNSIGNED NOT NULL,
	user_id BIGINT UNSIGNED NOT NULL,
	role ENUM('owner', 'member') NOT NULL DEFAULT 'member',
	joined_at DATETIME(3) NOT NULL DEFAULT UTC_TIMESTAMP(3),
	PRIMARY KEY (room_id, user_id),
	KEY ix_room_members_user (user_id),
	CONSTRAINT fk_room_members_room FOREIGN KEY (room_id) REFERENCES rooms (id)
		ON DELETE CASCADE,
	CONSTRAINT fk_room_members_user FOREIGN KEY (user_id) REFERENCES users (id)
		ON DELETE CASCADE
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_unicode_ci;

CREATE TABLE IF NOT EXISTS messages (
	id BIGINT UNSIGNED NOT NULL AUTO_INCREMENT PRIMARY KEY,
	room_id BIGINT UNSIGNED NOT NULL,
	sender_id BIGINT UNSIGNED NOT NULL,
	content MEDIUMTEXT NOT NULL,
	message_type ENUM('text', 'image', 'file', 'system') NOT NULL DEFAULT 'text',
	-- The sender's idempotency key (a UUID); NULL when none. Cleared when a
	-- newer message reuses it after a day.
	client_id VARCHAR(64) CHARACTER SET utf8mb4 COLLATE utf8mb4_bin NULL,
	created_at DATETIME(3) NOT NULL DEFAULT UTC_TIMESTAMP(3),
	edited_at DATETIME(3) NULL,
	deleted_at DATETIME(3) NULL,
	UNIQUE KEY uq_messages_client (sender_id, client_id),
	-- The hot index: history pages, last message and unread counts all read
	-- a room's live messages by id; sender_id makes unread counts covering.
	KEY ix_messages_room_live (room_id, deleted_at, id, sender_id),
	CONSTRAINT fk_messages_room FOREIGN KEY (room_id) REFERENCES rooms (id)
		ON DELETE CASCADE,
	CONSTRAINT fk_messages_sender FOREIGN KEY (sender_id) REFERENCES users (id)
		ON DELETE CASCADE
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_unicode_ci;

-- Live messages per room and sender (triggers keep it), for the same
-- purpose: unread = message_count - the user's own live messages.
CREATE TABLE IF NOT EXISTS room_sender_counts (
	room_id BIGINT UNSIGNED NOT NULL,
	sender_id BIGINT UNSIGNED NOT NULL,
	live_count BIGINT NOT NULL DEFAULT 0,
	PRIMARY KEY (room_id, sender_id),
	CONSTRAINT fk_room_sender_counts_room FOREIGN KEY (room_id) REFERENCES rooms (id)
		ON DELETE CASCADE,
	CONSTRAINT fk_room_sender_counts_sender FOREIGN KEY (sender_id) REFERENCES users (id)
		ON DELETE CASCADE
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_unicode_ci;

CREATE TABLE IF NOT EXISTS message_reads (
	message_id BIGINT UNSIGNED NOT NULL,
	user_id BIGINT UNSIGNED NOT NULL,
	read_at DATETIME(3) NOT NULL DEFAULT UTC_TIMESTAMP(3),
	PRIMARY KEY (message_id, user_id),
	KEY ix_message_reads_user (user_id),
	CONSTRAINT fk_message_reads_message FOREIGN KEY (message_id) REFERENCES messages (id)
		ON DELETE CASCADE,
	CONSTRAINT fk_message_reads_user FOREIGN KEY (user_id) REFERENCES users (id)
		ON DELETE CASCADE
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_unicode_ci;

CREATE TABLE IF NOT EXISTS read_positions (
	user_id BIGINT UNSIGNED NOT NULL,
	room_id BIGINT UNSIGNED NOT NULL,
	last_read_id BIGINT UNSIGNED NOT NULL DEFAULT 0,
	PRIMARY KEY (user_id, room_id),
	KEY ix_read_positions_room (room_id),
	CONSTRAINT fk_read_positions_user FOREIGN KEY (user_id) REFERENCES users (id)
		ON DELETE CASCADE,
	CONSTRAINT fk_read_positions_room FOREIGN KEY (room_id) REFERENCES rooms (id)
		ON DELETE CASCADE
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_unicode_ci;

-- The outbox. No foreign keys: events outlive deleted rooms and messages
-- (room_deleted must still reach the relays). kind holds the names of
-- chat_event_kind_name(). ref_id / user_id are 0 when unused.
CREATE TABLE IF NOT EXISTS chat_events (
	id BIGINT UNSIGNED NOT NULL AUTO_INCREMENT PRIMARY KEY,
	room_id BIGINT UNSIGNED NOT NULL,
	kind VARCHAR(24) CHARACTER SET ascii COLLATE ascii_bin NOT NULL,
	ref_id BIGINT UNSIGNED NOT NULL DEFAULT 0,
	user_id BIGINT UNSIGNED NOT NULL DEFAULT 0,
	created_at DATETIME(3) NOT NULL DEFAULT UTC_TIMESTAMP(3),
	KEY ix_chat_events_room (room_id, id),
	-- Resume: find the event of a message's creation.
	KEY ix_chat_events_room_kind_ref (room_id, kind, ref_id),
	KEY ix_chat_events_created (created_at)
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_unicode_ci;

-- Presence: one row per live WebSocket connection, owned by the relay
-- process (instance) that holds it. Instances heartbeat; a stale one is
-- reaped with its rows.
CREATE TABLE IF NOT EXISTS relay_instances (
	id BIGINT UNSIGNED NOT NULL AUTO_INCREMENT PRIMARY KEY,
	hostname VARCHAR(255) NOT NULL,
	pid BIGINT NOT NULL,
	started_at DATETIME(3) NOT NULL DEFAULT UTC_TIMESTAMP(3),
	heartbeat_at DATETIME(3) NOT NULL DEFAULT UTC_TIMESTAMP(3),
	KEY ix_relay_instances_heartbeat (heartbeat_at)
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_unicode_ci;

CREATE TABLE IF NOT EXISTS presence (
	id BIGINT UNSIGNED NOT NULL AUTO_INCREMENT PRIMARY KEY,
	instance_id BIGINT UNSIGNED NOT NULL,
	room_id BIGINT UNSIGNED NOT NULL,
	user_id BIGINT UNSIGNED NOT NULL,
	connected_at DATETIME(3) NOT NULL DEFAULT UTC_TIMESTAMP(3),
	KEY ix_presence_room_user (room_id, user_id),
	KEY ix_presence_instance (instance_id),
	KEY ix_presence_user (user_id),
	CONSTRAINT fk_presence_instance FOREIGN KEY (instance_id) REFERENCES relay_instances (id)
		ON DELETE CASCADE,
	CONSTRAINT fk_presence_room FOREIGN KEY (room_id) REFERENCES rooms (id)
		ON DELETE CASCADE,
	CONSTRAINT fk_presence_user FOREIGN KEY (user_id) REFERENCES users (id)
		ON DELETE CASCADE
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_unicode_ci;

-- ---- rooms -------------------------------------------------------------

-- A change clients see (not the last_event_at touch every writer makes,
-- nor the message counter).
CREATE OR REPLACE TRIGGER tr_rooms_au AFTER UPDATE ON rooms FOR EACH ROW
BEGIN
	IF NOT (OLD.name <=> NEW.name AND OLD.description <=> NEW.description
	        AND OLD.is_private <=> NEW.is_private) THEN
		INSERT INTO chat_events (room_id, kind, created_at)
			VALUES (NEW.id, 'room_updated', UTC_TIMESTAMP(3));
	END IF;
END;

-- Members, messages and presence go with the room by cascade (MariaDB
-- fires no triggers for those); this one event tells the relays.
CREATE OR REPLACE TRIGGER tr_rooms_ad AFTER DELETE ON rooms FOR EACH ROW
	INSERT INTO chat_events (room_id, kind, created_at)
		VALUES (OLD.id, 'room_deleted', UTC_TIMESTAMP(3));

-- ---- messages ----------------------------------------------------------

CREATE OR REPLACE TRIGGER tr_messages_bi BEFORE INSERT ON messages FOR EACH ROW
	UPDATE rooms SET last_event_at = UTC_TIMESTAMP(3) WHERE id = NEW.room_id;

CREATE OR REPLACE TRIGGER tr_messages_ai AFTER INSERT ON messages FOR EACH ROW
BEGIN
	INSERT INTO chat_events (room_id, kind, ref_id, user_id, created_at)
		VALUES (NEW.room_id, 'message_created', NEW.id, NEW.sender_id, UTC_TIMESTAMP(3));
	IF NEW.deleted_at IS NULL THEN
		UPDATE rooms SET message_count = message_count + 1 WHERE id = NEW.room_id;
		INSERT INTO room_sender_counts (room_id, sender_id, live_count)
			VALUES (NEW.room_id, NEW.sender_id, 1)
			ON DUPLICATE KEY UPDATE live_count = live_count + 1;
	END IF;
END;

CREATE OR REPLACE TRIGGER tr_messages_bu BEFORE UPDATE ON messages FOR EACH ROW
	UPDATE rooms SET last_event_at = UTC_TIMESTAMP(3) WHERE id = NEW.room_id;

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
		END IF;
		IF NEW.deleted_at IS NULL THEN
			UPDATE rooms SET message_count = message_count + 1 WHERE id = NEW.room_id;
			INSERT INTO room_sender_counts (room_id, sender_id, live_count)
				VALUES (NEW.room_id, NEW.sender_id, 1)
				ON DUPLICATE KEY UPDATE live_count = live_count + 1;
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

CREATE OR REPLACE TRIGGER tr_messages_bd BEFORE DELETE ON messages FOR EACH ROW
	UPDATE rooms SET last_event_at = UTC_TIMESTAMP(3) WHERE id = OLD.room_id;

-- A hard DELETE (admin SQL) is a deletion for the clients too.
CREATE OR REPLACE TRIGGER tr_messages_ad AFTER DELETE ON messages FOR EACH ROW
BEGIN
	IF OLD.deleted_at IS NULL THEN
		UPDATE rooms SET message_count = message_count - 1 WHERE id = OLD.room_id;
		UPDATE room_sender_counts SET live_count = live_count - 1
			WHERE room_id = OLD.room_id AND sender_id = OLD.sender_id;
		INSERT INTO chat_events (room_id, kind, ref_id, user_id, created_at)
			VALUES (OLD.room_id, 'message_deleted', OLD.id, OLD.sender_id, UTC_TIMESTAMP(3));
	END IF;
END;

-- ---- read receipts -----------------------------------------------------

CREATE OR REPLACE TRIGGER tr_message_reads_bi BEFORE INSERT ON message_reads FOR EACH ROW
	UPDATE rooms SET last_event_at = UTC_TIMESTAMP(3)
		WHERE id = (SELECT room_id FROM messages WHERE id = NEW.message_id);

CREATE OR REPLACE TRIGGER tr_message_reads_ai AFTER INSERT ON message_reads FOR EACH ROW
	INSERT INTO chat_events (room_id, kind, ref_id, user_id, created_at)
		SELECT room_id, 'message_read', NEW.message_id, NEW.user_id, UTC_TIMESTAMP(3)
			FROM messages WHERE id = NEW.message_id;

-- ---- membership --------------------------------------------------------

CREATE OR REPLACE TRIGGER tr_room_members_bi BEFORE INSERT ON room_members FOR EACH ROW
	UPDATE rooms SET last_event_at = UTC_TIMESTAMP(3) WHERE id = NEW.room_id;

CREATE OR REPLACE TRIGGER tr_room_members_ai AFTER INSERT ON room_members FOR EACH ROW
	INSERT INTO chat_events (room_id, kind, user_id, created_at)
		VALUES (NEW.room_id, 'member_joined', NEW.user_id, UTC_TIMESTAMP(3));

CREATE OR REPLACE TRIGGER tr_room_members_bu BEFORE UPDATE ON room_members FOR EACH ROW
	UPDATE rooms SET last_event_at = UTC_TIMESTAMP(3) WHERE id = NEW.room_id;

CREATE OR REPLACE TRIGGER tr_room_members_bd BEFORE DELETE ON room_members FOR EACH ROW
	UPDATE rooms SET last_event_at = UTC_TIMESTAMP(3) WHERE id = OLD.room_id;

CREATE OR REPLACE TRIGGER tr_room_members_ad AFTER DELETE ON room_members FOR EACH ROW
	INSERT INTO chat_events (room_id, kind, user_id, created_at)
		VALUES (OLD.room_id, 'member_left', OLD.user_id, UTC_TIMESTAMP(3));

-- ---- presence ----------------------------------------------------------
-- The counts are locking reads: they see the latest committed rows, not an
-- older snapshot, and the room lock taken first serializes every presence
-- writer of the room, so 0->1 and 1->0 are each seen exactly once.

CREATE OR REPLACE TRIGGER tr_presence_bi BEFORE INSERT ON presence FOR EACH ROW
	UPDATE rooms SET last_event_at = UTC_TIMESTAMP(3) WHERE id = NEW.room_id;

CREATE OR REPLACE TRIGGER tr_presence_ai AFTER INSERT ON presence FOR EACH ROW
BEGIN
	DECLARE n BIGINT DEFAULT 0;
	SELECT COUNT(*) INTO n FROM presence
		WHERE room_id = NEW.room_id AND user_id = NEW.user_id LOCK IN SHARE MODE;
	IF n = 1 THEN
		INSERT INTO chat_events (room_id, kind, user_id, created_at)
			VALUES (NEW.room_id, 'presence_join', NEW.user_id, UTC_TIMESTAMP(3));
	END IF;
END;

CREATE OR REPLACE TRIGGER tr_presence_bd BEFORE DELETE ON presence FOR EACH ROW
	UPDATE rooms SET last_event_at = UTC_TIMESTAMP(3) WHERE id = OLD.room_id;

CREATE OR REPLACE TRIGGER tr_presence_ad AFTER DELETE ON presence FOR EACH ROW
BEGIN
	DECLARE n BIGINT DEFAULT 0;
	SELECT COUNT(*) INTO n FROM presence
		WHERE room_id = OLD.room_id AND user_id = OLD.user_id LOCK IN SHARE MODE;
	IF n = 0 THEN
		INSERT INTO chat_events (room_id, kind, user_id, created_at)
			VALUES (OLD.room_id, 'presence_leave', OLD.user_id, UTC_TIMESTAMP(3));
	END IF;
END;
