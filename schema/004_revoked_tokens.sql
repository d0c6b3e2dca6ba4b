-- 004_revoked_tokens: refresh tokens revoked by POST /api/auth/logout/.
--
-- One row per revoked token, keyed by token_id: the hex BLAKE2b-128 of
-- the token's signed part (header.payload), so any token can be revoked,
-- with or without a jti, and no token text is stored. expires_at is the
-- token's own exp (seconds since the epoch, UTC): after it the token is
-- refused anyway, and the row is deleted by the next logout (a few at a
-- time). A refresh costs one primary-key lookup here.

CREATE TABLE IF NOT EXISTS revoked_tokens (
	token_id CHAR(32) CHARACTER SET ascii COLLATE ascii_bin NOT NULL,
	user_id BIGINT UNSIGNED NOT NULL,
	expires_at BIGINT NOT NULL,
	revoked_at DATETIME(3) NOT NULL,
	PRIMARY KEY (token_id),
	KEY ix_revoked_tokens_expires (expires_at)
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_unicode_ci;
