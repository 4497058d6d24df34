/*
 * Parsers for the auth service's answer and for $CONTROL/chatroom/v1 payloads.
 *
 * Both are strict: anything that is not exactly the documented shape is
 * refused, so a bug on the Django side fails closed instead of granting
 * something by accident. Unknown extra keys are ignored (so the service can
 * add fields without a broker release), but every documented key must be
 * present with its documented type.
 */
#include <math.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

#include <cjson/cJSON.h>

#include "contract.h"

static void set_why(const char **why, const char *reason)
{
	if(why) *why = reason;
}

/*
 * True if s is well-formed UTF-8 without C0/C1 control characters, which is
 * what MQTT topics and user properties accept. Rejecting the rest here means
 * a granted string can always be used as-is by the broker.
 */
static bool valid_utf8(const char *s)
{
	const unsigned char *p = (const unsigned char *)s;

	while(*p){
		unsigned cp;
		int extra;

		if(*p < 0x80){
			cp = *p;
			extra = 0;
		}else if(*p >= 0xC2 && *p <= 0xDF){
			cp = *p & 0x1Fu;
			extra = 1;
		}else if(*p >= 0xE0 && *p <= 0xEF){
			cp = *p & 0x0Fu;
			extra = 2;
		}else if(*p >= 0xF0 && *p <= 0xF4){
			cp = *p & 0x07u;
			extra = 3;
		}else{
			return false;
		}
		p++;
		for(int i = 0; i < extra; i++, p++){
			if((*p & 0xC0) != 0x80) return false; /* also stops at the NUL */
			cp = (cp << 6) | (*p & 0x3Fu);
		}
		if((extra == 2 && cp < 0x800) || (extra == 3 && (cp < 0x10000 || cp > 0x10FFFF))){
			return false; /* overlong or out of range */
		}
		if(cp >= 0xD800 && cp <= 0xDFFF) return false; /* surrogate */
		if(cp < 0x20 || (cp >= 0x7F && cp <= 0x9F)) return false;
	}
	return true;
}

/* Parses exactly `len` bytes as one JSON object (no trailing data). */
static cJSON *parse_object(const void *data, size_t len, const char **why)
{
	char *copy;
	cJSON *root;

	if(data == NULL || len == 0){
		set_why(why, "empty document");
		return NULL;
	}
	if(len > CR_MAX_BODY){
		set_why(why, "document too large");
		return NULL;
	}
	/* cJSON wants a NUL-terminated string; a NUL inside would hide the rest. */
	if(memchr(data, '\0', len)){
		set_why(why, "NUL byte in document");
		return NULL;
	}
	copy = malloc(len + 1);
	if(copy == NULL){
		set_why(why, "out of memory");
		return NULL;
	}
	memcpy(copy, data, len);
	copy[len] = '\0';
	root = cJSON_ParseWithOpts(copy, NULL, 1);
	free(copy);
	if(root == NULL){
		set_why(why, "not JSON");
		return NULL;
	}
	if(!cJSON_IsObject(root)){
		cJSON_Delete(root);
		set_why(why, "not a JSON object");
		return NULL;
	}
	return root;
}

/* A non-empty, bounded, valid string, or NULL. */
static const char *string_value(const cJSON *item)
{
	size_t len;

	if(!cJSON_IsString(item) || item->valuestring == NULL) return NULL;
	len = strlen(item->valuestring);
	if(len == 0 || len > CR_MAX_STRING) return NULL;
	if(!valid_utf8(item->valuestring)) return NULL;
	return item->valuestring;
}

/* Copies object[key] into *out if it is a valid string; false otherwise. */
static bool copy_string(const cJSON *object, const char *key, char **out)
{
	const char *s = string_value(cJSON_GetObjectItemCaseSensitive(object, key));

	if(s == NULL) return false;
	*out = strdup(s);
	return *out != NULL;
}

static bool copy_topics(const cJSON *object, const char *key,
		char **topics, int *count)
{
	const cJSON *list = cJSON_GetObjectItemCaseSensitive(object, key);
	const cJSON *item;

	if(!cJSON_IsArray(list)) return false;
	if(cJSON_GetArraySize(list) > CR_MAX_TOPICS) return false;
	cJSON_ArrayForEach(item, list){
		const char *s = string_value(item);

		if(s == NULL) return false;
		topics[*count] = strdup(s);
		if(topics[*count] == NULL) return false;
		(*count)++;
	}
	return true;
}

/* 2^53: every integer up to here is exact in the double cJSON stores. */
#define MAX_EXACT_INTEGER 9007199254740992.0

enum cr_auth_result cr_parse_auth_response(const char *body, size_t len,
		struct cr_grant *grant, const char **why)
{
	cJSON *root;
	const cJSON *allow, *expires;

	memset(grant, 0, sizeof(*grant));
	root = parse_object(body, len, why);
	if(root == NULL) return CR_AUTH_INVALID;

	allow = cJSON_GetObjectItemCaseSensitive(root, "allow");
	if(cJSON_IsFalse(allow)){
		cJSON_Delete(root);
		set_why(why, "refused by the auth service");
		return CR_AUTH_DENY;
	}
	if(!cJSON_IsTrue(allow)){
		set_why(why, "\"allow\" is not a boolean");
		goto invalid;
	}

	if(!copy_string(root, "room", &grant->room)){
		set_why(why, "bad \"room\"");
		goto invalid;
	}
	if(!copy_string(root, "session", &grant->session)){
		set_why(why, "bad \"session\"");
		goto invalid;
	}
	if(!copy_string(root, "user", &grant->user)){
		set_why(why, "bad \"user\"");
		goto invalid;
	}
	if(!copy_string(root, "identity", &grant->identity)){
		set_why(why, "bad \"identity\"");
		goto invalid;
	}

	expires = cJSON_GetObjectItemCaseSensitive(root, "expires_at");
	if(!cJSON_IsNumber(expires) || !isfinite(expires->valuedouble)
			|| expires->valuedouble != floor(expires->valuedouble)
			|| expires->valuedouble < 0 || expires->valuedouble > MAX_EXACT_INTEGER){
		set_why(why, "bad \"expires_at\"");
		goto invalid;
	}
	grant->expires_at = (int64_t)expires->valuedouble;

	if(!copy_topics(root, "publish", grant->publish, &grant->publish_count)){
		set_why(why, "bad \"publish\"");
		goto invalid;
	}
	if(!copy_topics(root, "subscribe", grant->subscribe, &grant->subscribe_count)){
		set_why(why, "bad \"subscribe\"");
		goto invalid;
	}

	cJSON_Delete(root);
	return CR_AUTH_ALLOW;

invalid:
	cJSON_Delete(root);
	cr_grant_free(grant);
	return CR_AUTH_INVALID;
}

void cr_grant_free(struct cr_grant *grant)
{
	free(grant->room);
	free(grant->session);
	free(grant->user);
	free(grant->identity);
	for(int i = 0; i < grant->publish_count; i++) free(grant->publish[i]);
	for(int i = 0; i < grant->subscribe_count; i++) free(grant->subscribe[i]);
	memset(grant, 0, sizeof(*grant));
}

int cr_parse_control(const void *payload, size_t len, struct cr_kick *kick,
		const char **why)
{
	cJSON *root;
	const cJSON *body, *item;
	bool has_room, has_user, has_session;
	int keys = 0;

	memset(kick, 0, sizeof(*kick));
	root = parse_object(payload, len, why);
	if(root == NULL) return -1;

	if(cJSON_GetArraySize(root) != 1){
		set_why(why, "expected exactly one command");
		goto invalid;
	}
	body = cJSON_GetObjectItemCaseSensitive(root, "kick");
	if(!cJSON_IsObject(body)){
		set_why(why, "unknown command");
		goto invalid;
	}
	cJSON_ArrayForEach(item, body) keys++;

	has_room = cJSON_HasObjectItem(body, "room");
	has_user = cJSON_HasObjectItem(body, "user");
	has_session = cJSON_HasObjectItem(body, "session");

	/* Exactly one of the three documented shapes; anything else is ambiguous. */
	if(has_room && !has_session && keys == (has_user ? 2 : 1)){
		kick->kind = has_user ? CR_KICK_ROOM_USER : CR_KICK_ROOM;
		if(!copy_string(body, "room", &kick->room)
				|| (has_user && !copy_string(body, "user", &kick->user))){
			set_why(why, "bad \"room\" or \"user\"");
			goto invalid;
		}
	}else if(has_session && keys == 1){
		kick->kind = CR_KICK_SESSION;
		if(!copy_string(body, "session", &kick->session)){
			set_why(why, "bad \"session\"");
			goto invalid;
		}
	}else{
		set_why(why, "kick needs {room}, {room, user} or {session}");
		goto invalid;
	}
	cJSON_Delete(root);
	return 0;

invalid:
	cJSON_Delete(root);
	cr_kick_free(kick);
	return -1;
}

void cr_kick_free(struct cr_kick *kick)
{
	free(kick->room);
	free(kick->user);
	free(kick->session);
	memset(kick, 0, sizeof(*kick));
}
