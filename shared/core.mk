# shared/ pure modules (config, log, JWT, passwords, JSON, validation, notify)
