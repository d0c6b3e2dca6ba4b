#ifndef CHAT_TIME_H
#define CHAT_TIME_H

#include <stdint.h>

/* Wall clock, milliseconds since the epoch. */
int64_t chat_time_now_ms(void);
/* Monotonic clock, milliseconds (for timeouts and latency). */
int64_t chat_time_mono_ms(void);

#endif
