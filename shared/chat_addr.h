/* chat_addr: client addresses as rate and connection limits count them,
 * and the one hash the per-process tables use. Pure; shared by chat-api
 * (login limiter) and chat-relay (connection caps), so both count the
 * same client under the same key. */
#ifndef CHAT_ADDR_H
#define CHAT_ADDR_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* Longest text chat_addr_canonical() writes, with its NUL. */
#define CHAT_ADDR_KEY_LEN 50

/* The address text as limits count it: an IPv4 address in dotted form; an
 * IPv4-mapped IPv6 address as its IPv4 address (one host, whichever
 * socket family accepted it); any other IPv6 address by its /64 ("2001:db8::/64":
 * one host usually holds a whole /64, so counting each address would let
 * it try 2^64 times as often). false (out holds "") if text is not an
 * address or out is shorter than CHAT_ADDR_KEY_LEN. */
bool chat_addr_canonical(const char *text, char *out, size_t outlen);

/* 64-bit FNV-1a of n bytes: spreads short keys well and needs no seed
 * (the tables it indexes are bounded, so collisions cost time, not
 * memory). */
uint64_t chat_hash_bytes(const void *p, size_t n);

/* The same over a NUL-terminated string. */
uint64_t chat_hash_str(const char *s);

#endif
