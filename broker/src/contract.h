/*
 * The two JSON documents the plugin reads: the auth service's answer and the
 * server's $CONTROL/chatroom/v1 payloads. Pure functions (no Mosquitto, no
 * network) so that they can be fuzzed on their own; see fuzz/.
 */
#ifndef CHATROOM_CONTRACT_H
#define CHATROOM_CONTRACT_H

#include <stddef.h>
#include <stdint.h>

#define CR_MAX_TOPICS 8            /* per list: publish, subscribe */
#define CR_MAX_STRING 1024         /* bytes, for every string and topic */
#define CR_MAX_BODY (64 * 1024)    /* bytes, for a whole document */

/* What a token client may do, as granted by the auth service. */
struct cr_grant {
	char *room;
	char *session;
	char *user;
	char *identity;      /* copied verbatim into the x-chatroom-identity property */
	int64_t expires_at;  /* unix seconds */
	int publish_count;
	int subscribe_count;
	char *publish[CR_MAX_TOPICS];
	char *subscribe[CR_MAX_TOPICS];
};

enum cr_auth_result {
	CR_AUTH_ALLOW,    /* *grant filled in; free it with cr_grant_free() */
	CR_AUTH_DENY,     /* {"allow": false}: the service said no */
	CR_AUTH_INVALID,  /* not the documented shape: treated as a denial too */
};

/*
 * Parses the body of an HTTP 200 answer. `body` need not be NUL-terminated.
 * On anything but CR_AUTH_ALLOW, *grant holds nothing to free and *why (if
 * not NULL) is set to a static, loggable reason.
 */
enum cr_auth_result cr_parse_auth_response(const char *body, size_t len,
		struct cr_grant *grant, const char **why);
void cr_grant_free(struct cr_grant *grant);

/* A {"kick": {...}} command. Unused fields are NULL. */
enum cr_kick_kind {
	CR_KICK_ROOM,       /* room */
	CR_KICK_ROOM_USER,  /* room + user */
	CR_KICK_SESSION,    /* session */
};
struct cr_kick {
	enum cr_kick_kind kind;
	char *room;
	char *user;
	char *session;
};

/* Returns 0 and fills *kick (free with cr_kick_free()), or -1 and sets *why. */
int cr_parse_control(const void *payload, size_t len, struct cr_kick *kick,
		const char **why);
void cr_kick_free(struct cr_kick *kick);

#endif
