/* Schema migrations: schema/NNN_name.sql files applied in order, each in
 * its own step, recorded in schema_version. Running it twice is a no-op. */
#ifndef CHAT_MIGRATE_H
#define CHAT_MIGRATE_H

#include <stdio.h>

#include "chat_config.h"
#include "chat_error.h"

/* Apply every migration in dir newer than the database's version.
 * Progress and errors go to out. Returns CHAT_OK, or the error of the
 * first failing step (later ones are not tried). */
chat_err chat_migrate_run(const chat_config *cfg, const char *dir, FILE *out);

#endif
