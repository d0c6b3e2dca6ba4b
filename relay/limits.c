/* What one user and one client address may take of a relay process:
 * open connections (relay.max_connections_per_user / _per_address) and
 * the frame rate of a user over all of its connections
 * (relay.user_rate_limit / user_rate_burst). Service thread only.
 *
 * The limits are per process: with relay.workers = N (or N relays on N
 * hosts) a user may hold N times as much, which is still bounded.
 *
 * The client address is the TCP peer, or, when the peer is one of
 * relay.trusted_proxies (the web server in front), the last entry of
 * X-Forwarded-For: the address that proxy saw. Entries before it are
 * whatever the client wrote and are ignored. IPv6 addresses count per /64
 * (one host usually has a whole /64 to pick from). */
#include "config.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "chat_addr.h"
#include "chat_log.h"
#include "relay.h"

/* One counted key: "u<user id>" or "a<address>". Lives while conns > 0. */
typedef struct relay_budget {
	struct relay_budget *next;
	size_t conns;
	double tokens;      /* user keys: the user's frame bucket */
	int64_t tokens_ms;
	char key[];
} relay_budget;

static struct {
	relay_budget **b;
	size_t nb, n;
} tab;

static size_t slot_of(const char *key, size_t nb)
{
	return (size_t)(chat_hash_str(key) & (nb - 1));
}

static void grow(void)
{
	size_t nnb = tab.nb * 2;
	relay_budget **nb = calloc(nnb, sizeof(*nb));
	if (!nb)
		return; /* keep the longer chains */
	for (size_t i = 0; i < tab.nb; i++) {
		for (relay_budget *e = tab.b[i], *next; e; e = next) {
			next = e->next;
			size_t s = slot_of(e->key, nnb);
			e->next = nb[s];
			nb[s] = e;
		}
	}
	free(tab.b);
	tab.b = nb;
	tab.nb = nnb;
}

/* The entry for key, created (with a full bucket) when absent; NULL on OOM. */
static relay_budget *get(const char *key, bool create)
{
	if (!tab.b) {
		tab.nb = 256;
		if (!(tab.b = calloc(tab.nb, sizeof(*tab.b))))
			return NULL;
	}
	size_t s = slot_of(key, tab.nb);
	for (relay_budget *e = tab.b[s]; e; e = e->next)
		if (strcmp(e->key, key) == 0)
			return e;
	if (!create)
		return NULL;
	size_t klen = strlen(key) + 1;
	relay_budget *e = calloc(1, sizeof(*e) + klen);
	if (!e)
		return NULL;
	memcpy(e->key, key, klen);
	e->tokens = relay_g->cfg->relay.user_rate_burst;
	e->tokens_ms = relay_now_ms();
	e->next = tab.b[s];
	tab.b[s] = e;
	if (++tab.n > tab.nb)
		grow();
	return e;
}

/* Unlink and free e when no connection holds it. */
static void drop_if_idle(relay_budget *e)
{
	if (!e || e->conns > 0)
		return;
	size_t s = slot_of(e->key, tab.nb);
	for (relay_budget **pp = &tab.b[s]; *pp; pp = &(*pp)->next) {
		if (*pp == e) {
			*pp = e->next;
			tab.n--;
			free(e);
			return;
		}
	}
}

static void put(relay_budget *e)
{
	if (!e)
		return;
	e->conns--;
	drop_if_idle(e);
}

void relay_limits_free(void)
{
	for (size_t i = 0; tab.b && i < tab.nb; i++) {
		for (relay_budget *e = tab.b[i], *next; e; e = next) {
			next = e->next;
			free(e);
		}
	}
	free(tab.b);
	memset(&tab, 0, sizeof(tab));
}

/* The last comma-separated entry of an X-Forwarded-For value, trimmed. */
static void last_entry(char *v, const char **start)
{
	char *p = strrchr(v, ',');
	p = p ? p + 1 : v;
	while (*p == ' ' || *p == '\t')
		p++;
	size_t n = strlen(p);
	while (n && (p[n - 1] == ' ' || p[n - 1] == '\t'))
		p[--n] = '\0';
	*start = p;
}

void relay_limits_client_address(struct lws *wsi, char *out, size_t outlen)
{
	/* headers are at most info.max_http_header_data (8 KiB) together */
	static char xff[8192];
	char peer[CHAT_ADDR_KEY_LEN] = "";
	const char *raw = lws_get_peer_simple(wsi, peer, sizeof(peer));
	if (!raw || !chat_addr_canonical(peer, out, outlen))
		snprintf(out, outlen, "unknown");
	if (!chat_config_list_has(relay_g->cfg->relay.trusted_proxies, peer) &&
	    !chat_config_list_has(relay_g->cfg->relay.trusted_proxies, out))
		return;
	if (lws_hdr_copy(wsi, xff, sizeof(xff), WSI_TOKEN_X_FORWARDED_FOR) <= 0)
		return; /* the proxy's own connection, or no header: the peer */
	const char *last;
	last_entry(xff, &last);
	char fwd[CHAT_ADDR_KEY_LEN];
	if (chat_addr_canonical(last, fwd, sizeof(fwd)))
		snprintf(out, outlen, "%s", fwd);
	else
		chat_log_debug("X-Forwarded-For from trusted proxy %s has no address at its end",
		               peer);
}

int relay_limits_admit(relay_session *s, const char *addr)
{
	const chat_config *cfg = relay_g->cfg;
	char key[CHAT_ADDR_KEY_LEN + 2];
	relay_budget *u = NULL, *a = NULL;
	int rc = 0;

	/* A budget only for a limit that is on: each costs a connection of
	 * its own user (or address) about 60 bytes. */
	bool per_user = cfg->relay.max_connections_per_user || cfg->relay.user_rate_limit;
	if (per_user && s->user.id != CHAT_ANONYMOUS_USER_ID) {
		snprintf(key, sizeof(key), "u%lld", (long long)s->user.id);
		if (!(u = get(key, true)))
			return -1;
		if (cfg->relay.max_connections_per_user &&
		    u->conns >= (size_t)cfg->relay.max_connections_per_user)
			return 1;
	}
	if (cfg->relay.max_connections_per_address) {
		snprintf(key, sizeof(key), "a%s", addr);
		if (!(a = get(key, true)))
			rc = -1;
		else if (a->conns >= (size_t)cfg->relay.max_connections_per_address)
			rc = 2;
	}
	if (rc != 0) {
		drop_if_idle(u);
		drop_if_idle(a);
		return rc;
	}
	if (u)
		u->conns++;
	if (a)
		a->conns++;
	s->user_budget = u;
	s->addr_budget = a;
	return 0;
}

void relay_limits_release(relay_session *s)
{
	put(s->user_budget);
	put(s->addr_budget);
	s->user_budget = s->addr_budget = NULL;
}

bool relay_limits_user_frame(relay_session *s, int64_t now_ms)
{
	const chat_config *cfg = relay_g->cfg;
	relay_budget *u = s->user_budget;
	if (!u || !cfg->relay.user_rate_limit)
		return true;
	u->tokens += (double)(now_ms - u->tokens_ms) * cfg->relay.user_rate_limit / 1000.0;
	if (u->tokens > cfg->relay.user_rate_burst)
		u->tokens = cfg->relay.user_rate_burst;
	u->tokens_ms = now_ms;
	if (u->tokens < 1.0)
		return false;
	u->tokens -= 1.0;
	return true;
}
