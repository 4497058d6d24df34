/*
 * chatroom_auth: a Mosquitto 2.0 (plugin API v5) plugin for the chatroom
 * service. It authenticates clients against the Django auth endpoint, keeps
 * what each connection may publish and subscribe to, stamps every client
 * message with the sender's identity, kicks clients whose token expired or
 * that the server asks to kick, and publishes per-room presence counts.
 * See ../README.md for the contract and for what was verified about 2.0.11.
 */
#include <ctype.h>
#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <cjson/cJSON.h>
#include <curl/curl.h>
#include <openssl/crypto.h>

#include <mosquitto.h>
#include <mosquitto_broker.h>
#include <mosquitto_plugin.h>
#include <mqtt_protocol.h>

#include "clients.h"
#include "contract.h"

#define CONTROL_TOPIC "$CONTROL/chatroom/v1"
#define IDENTITY_PROPERTY "x-chatroom-identity"
#define PRESENCE_HEARTBEAT_S 60  /* publish presence at least this often */
#define MAX_SECRET 4096
#define SERVER_IDS 16            /* server client ids remembered, see below */

/* Built with -fvisibility=hidden: only the three entry points are exported. */
#define PLUGIN_EXPORT __attribute__((visibility("default")))

struct room_count {
	char *room;
	long count;
};

struct plugin {
	mosquitto_plugin_id_t *pid;

	/* Options. */
	char *auth_url;
	char *secret;
	size_t secret_len;
	char *server_username;
	long auth_timeout_ms;
	char *presence_topic;
	long presence_interval;

	/* The auth service client: one handle, so its connection is reused. */
	int curl_global;  /* curl_global_init() succeeded */
	CURL *curl;
	struct curl_slist *headers;
	char body[CR_MAX_BODY];
	size_t body_len;
	int body_too_big;

	struct client_table clients;

	/*
	 * Client ids the server has used. A token client presenting one is
	 * refused: taking over the server's client id would disconnect the
	 * server and inherit its session. A small ring: the server uses a
	 * handful of stable ids.
	 */
	char *server_ids[SERVER_IDS];
	int server_ids_next;

	/* Tick bookkeeping (all unix seconds). */
	time_t last_tick_s;
	time_t next_expiry;  /* earliest expires_at of a live token entry, 0: none */
	time_t last_presence_check;
	time_t last_presence_publish;
	struct room_count *last_rooms;  /* sorted by room; what we last published */
	size_t last_room_count;
};

/* ------------------------------------------------------------------------ */
/* Small helpers                                                            */

/* Client ids, usernames and passwords can carry tokens: log 8 chars at most. */
static const char *short_id(const char *id, char buf[12])
{
	if(id == NULL) return "(none)";
	snprintf(buf, 12, "%.8s%s", id, strlen(id) > 8 ? "..." : "");
	return buf;
}

static void notice_denied(const struct mosquitto *client, const char *what, const char *why)
{
	char buf[12];

	mosquitto_log_printf(MOSQ_LOG_NOTICE, "chatroom_auth: denied %s for client %s: %s",
			what, short_id(mosquitto_client_id(client), buf), why);
}

static int parse_long(const char *value, long min, long max, long *out)
{
	char *end;
	long v;

	errno = 0;
	v = strtol(value, &end, 10);
	if(errno || end == value || *end != '\0' || v < min || v > max) return -1;
	*out = v;
	return 0;
}

/* ------------------------------------------------------------------------ */
/* Configuration                                                            */

static int read_secret(struct plugin *p, const char *path)
{
	char buf[MAX_SECRET + 2];
	size_t len;
	FILE *f = fopen(path, "rb");

	if(f == NULL){
		mosquitto_log_printf(MOSQ_LOG_ERR, "chatroom_auth: cannot open secret_file %s: %s",
				path, strerror(errno));
		return -1;
	}
	len = fread(buf, 1, sizeof(buf) - 1, f);
	fclose(f);
	if(len > MAX_SECRET){
		mosquitto_log_printf(MOSQ_LOG_ERR, "chatroom_auth: secret_file is larger than %d bytes", MAX_SECRET);
		return -1;
	}
	while(len > 0 && isspace((unsigned char)buf[len - 1])) len--;
	buf[len] = '\0';
	if(len == 0){
		mosquitto_log_printf(MOSQ_LOG_ERR, "chatroom_auth: secret_file is empty");
		return -1;
	}
	/* It goes into an HTTP header: refuse anything that could break out of it. */
	for(size_t i = 0; i < len; i++){
		if((unsigned char)buf[i] < 0x20 || buf[i] == 0x7f){
			mosquitto_log_printf(MOSQ_LOG_ERR, "chatroom_auth: secret_file holds control characters");
			return -1;
		}
	}
	p->secret = strdup(buf);
	p->secret_len = len;
	OPENSSL_cleanse(buf, sizeof(buf));
	return p->secret ? 0 : -1;
}

static int read_options(struct plugin *p, struct mosquitto_opt *opts, int opt_count)
{
	const char *secret_file = NULL;

	p->auth_timeout_ms = 3000;
	p->presence_interval = 5;
	for(int i = 0; i < opt_count; i++){
		const char *key = opts[i].key, *value = opts[i].value;
		char **target = NULL;

		if(value == NULL) continue;
		if(!strcmp(key, "auth_url")){
			target = &p->auth_url;
		}else if(!strcmp(key, "server_username")){
			target = &p->server_username;
		}else if(!strcmp(key, "presence_topic")){
			target = &p->presence_topic;
		}else if(!strcmp(key, "secret_file")){
			secret_file = value;
		}else if(!strcmp(key, "auth_timeout_ms")){
			if(parse_long(value, 1, 60000, &p->auth_timeout_ms)){
				mosquitto_log_printf(MOSQ_LOG_ERR, "chatroom_auth: auth_timeout_ms must be 1..60000");
				return -1;
			}
		}else if(!strcmp(key, "presence_interval")){
			if(parse_long(value, 1, 3600, &p->presence_interval)){
				mosquitto_log_printf(MOSQ_LOG_ERR, "chatroom_auth: presence_interval must be 1..3600");
				return -1;
			}
		}else{
			mosquitto_log_printf(MOSQ_LOG_WARNING, "chatroom_auth: ignoring unknown option %s", key);
		}
		if(target){
			free(*target);
			*target = strdup(value);
			if(*target == NULL) return -1;
		}
	}
	if(p->server_username == NULL) p->server_username = strdup("chatroom-server");
	if(p->presence_topic == NULL) p->presence_topic = strdup("chatroom-server/presence");
	if(p->server_username == NULL || p->presence_topic == NULL) return -1;
	if(p->auth_url == NULL || p->auth_url[0] == '\0'){
		mosquitto_log_printf(MOSQ_LOG_ERR, "chatroom_auth: plugin_opt_auth_url is required");
		return -1;
	}
	if(mosquitto_pub_topic_check(p->presence_topic) != MOSQ_ERR_SUCCESS){
		mosquitto_log_printf(MOSQ_LOG_ERR, "chatroom_auth: presence_topic is not a valid topic");
		return -1;
	}
	if(secret_file == NULL || secret_file[0] == '\0'){
		mosquitto_log_printf(MOSQ_LOG_ERR, "chatroom_auth: plugin_opt_secret_file is required");
		return -1;
	}
	return read_secret(p, secret_file);
}

/* ------------------------------------------------------------------------ */
/* The auth service                                                         */

static size_t on_http_body(char *data, size_t size, size_t nmemb, void *userdata)
{
	struct plugin *p = userdata;
	size_t n = size * nmemb;

	if(n > sizeof(p->body) - p->body_len){
		p->body_too_big = 1;
		return 0; /* makes curl abort the transfer */
	}
	memcpy(p->body + p->body_len, data, n);
	p->body_len += n;
	return n;
}

static int setup_curl(struct plugin *p)
{
	char *auth;
	size_t auth_len = strlen("Authorization: Bearer ") + p->secret_len + 1;
	struct curl_slist *h;

	if(curl_global_init(CURL_GLOBAL_DEFAULT) != CURLE_OK) return -1;
	p->curl_global = 1;
	p->curl = curl_easy_init();
	if(p->curl == NULL) return -1;

	auth = malloc(auth_len);
	if(auth == NULL) return -1;
	snprintf(auth, auth_len, "Authorization: Bearer %s", p->secret);
	h = curl_slist_append(NULL, auth);
	OPENSSL_cleanse(auth, auth_len);
	free(auth);
	if(h == NULL) return -1;
	p->headers = h;
	/* "Expect:" stops curl from waiting for 100-continue on bodies > 1 KB. */
	if(!(h = curl_slist_append(p->headers, "Content-Type: application/json"))) return -1;
	if(!(h = curl_slist_append(p->headers, "Expect:"))) return -1;

	if(curl_easy_setopt(p->curl, CURLOPT_URL, p->auth_url) != CURLE_OK
			|| curl_easy_setopt(p->curl, CURLOPT_HTTPHEADER, p->headers) != CURLE_OK
			|| curl_easy_setopt(p->curl, CURLOPT_POST, 1L) != CURLE_OK
			|| curl_easy_setopt(p->curl, CURLOPT_PROTOCOLS_STR, "http,https") != CURLE_OK
			/* An internal endpoint: ignore any http_proxy in the environment. */
			|| curl_easy_setopt(p->curl, CURLOPT_PROXY, "") != CURLE_OK
			|| curl_easy_setopt(p->curl, CURLOPT_TIMEOUT_MS, p->auth_timeout_ms) != CURLE_OK
			|| curl_easy_setopt(p->curl, CURLOPT_CONNECTTIMEOUT_MS, p->auth_timeout_ms) != CURLE_OK
			/* The broker is single-threaded and has its own signal handlers. */
			|| curl_easy_setopt(p->curl, CURLOPT_NOSIGNAL, 1L) != CURLE_OK
			|| curl_easy_setopt(p->curl, CURLOPT_WRITEFUNCTION, on_http_body) != CURLE_OK
			|| curl_easy_setopt(p->curl, CURLOPT_WRITEDATA, p) != CURLE_OK){
		mosquitto_log_printf(MOSQ_LOG_ERR, "chatroom_auth: cannot configure libcurl (auth_url scheme must be http or https)");
		return -1;
	}
	return 0;
}

static int add_string_or_null(cJSON *object, const char *key, const char *value)
{
	if(value) return cJSON_AddStringToObject(object, key, value) ? 0 : -1;
	return cJSON_AddNullToObject(object, key) ? 0 : -1;
}

/* {"username": .., "password": .., "client_id": .., "address": ..} */
static char *auth_request_body(const struct mosquitto_evt_basic_auth *ev, const char *client_id)
{
	cJSON *o = cJSON_CreateObject();
	char *text = NULL;

	if(o && !add_string_or_null(o, "username", ev->username)
			&& !add_string_or_null(o, "password", ev->password)
			&& !add_string_or_null(o, "client_id", client_id)
			&& !add_string_or_null(o, "address", mosquitto_client_address(ev->client))){
		text = cJSON_PrintUnformatted(o);
	}
	cJSON_Delete(o);
	return text;
}

/*
 * Asks the auth service about a token client. Returns MOSQ_ERR_SUCCESS with
 * *grant filled in, MOSQ_ERR_AUTH for a refusal (the client is told "not
 * authorized" and should drop its token), or MOSQ_ERR_UNKNOWN when the
 * service could not answer (the connection is closed without a CONNACK).
 */
static int ask_auth_service(struct plugin *p, const struct mosquitto_evt_basic_auth *ev,
		const char *client_id, struct cr_grant *grant)
{
	char *request;
	CURLcode rc;
	long status = 0;
	const char *why = NULL;
	enum cr_auth_result verdict;

	request = auth_request_body(ev, client_id);
	if(request == NULL) return MOSQ_ERR_NOMEM;

	p->body_len = 0;
	p->body_too_big = 0;
	curl_easy_setopt(p->curl, CURLOPT_POSTFIELDS, request);
	curl_easy_setopt(p->curl, CURLOPT_POSTFIELDSIZE, (long)strlen(request));
	rc = curl_easy_perform(p->curl);
	/* The request holds the token: wipe our copy (best effort; cJSON and
	 * libcurl keep their own transient buffers). */
	OPENSSL_cleanse(request, strlen(request));
	cJSON_free(request);
	curl_easy_setopt(p->curl, CURLOPT_POSTFIELDS, NULL);
	curl_easy_getinfo(p->curl, CURLINFO_RESPONSE_CODE, &status);

	if(rc != CURLE_OK && !(rc == CURLE_WRITE_ERROR && p->body_too_big)){
		mosquitto_log_printf(MOSQ_LOG_WARNING, "chatroom_auth: auth service unreachable: %s",
				curl_easy_strerror(rc));
		return MOSQ_ERR_UNKNOWN;
	}
	if(status == 401 || status == 403){
		notice_denied(ev->client, "connect", status == 401 ? "auth service answered 401" : "auth service answered 403");
		return MOSQ_ERR_AUTH;
	}
	if(status != 200){
		mosquitto_log_printf(MOSQ_LOG_WARNING, "chatroom_auth: auth service answered HTTP %ld", status);
		return MOSQ_ERR_UNKNOWN;
	}
	if(p->body_too_big){
		notice_denied(ev->client, "connect", "auth response larger than 64 KB");
		return MOSQ_ERR_AUTH;
	}

	verdict = cr_parse_auth_response(p->body, p->body_len, grant, &why);
	if(verdict != CR_AUTH_ALLOW){
		if(verdict == CR_AUTH_INVALID){
			mosquitto_log_printf(MOSQ_LOG_WARNING, "chatroom_auth: malformed auth response: %s", why);
		}
		notice_denied(ev->client, "connect", why);
		return MOSQ_ERR_AUTH;
	}
	if(grant->expires_at <= (int64_t)time(NULL)){
		cr_grant_free(grant);
		notice_denied(ev->client, "connect", "grant already expired");
		return MOSQ_ERR_AUTH;
	}
	return MOSQ_ERR_SUCCESS;
}

/* ------------------------------------------------------------------------ */
/* Events                                                                   */

static void remember_server_id(struct plugin *p, const char *client_id)
{
	for(int i = 0; i < SERVER_IDS; i++){
		if(p->server_ids[i] && !strcmp(p->server_ids[i], client_id)) return;
	}
	free(p->server_ids[p->server_ids_next]);
	p->server_ids[p->server_ids_next] = strdup(client_id);
	p->server_ids_next = (p->server_ids_next + 1) % SERVER_IDS;
}

static int is_server_id(const struct plugin *p, const char *client_id)
{
	for(int i = 0; i < SERVER_IDS; i++){
		if(p->server_ids[i] && !strcmp(p->server_ids[i], client_id)) return 1;
	}
	return 0;
}

static int store_entry(struct plugin *p, struct mosquitto *client, const char *client_id,
		int is_server, struct cr_grant *grant)
{
	struct client_entry *e = calloc(1, sizeof(*e));

	if(e == NULL || (e->client_id = strdup(client_id)) == NULL){
		free(e);
		cr_grant_free(grant);
		return MOSQ_ERR_NOMEM;
	}
	e->client = client;
	e->is_server = is_server;
	e->grant = *grant; /* the entry owns the strings now */
	if(clients_put(&p->clients, e)){
		client_entry_free(e);
		return MOSQ_ERR_NOMEM;
	}
	if(!is_server && (p->next_expiry == 0 || e->grant.expires_at < p->next_expiry)){
		p->next_expiry = (time_t)e->grant.expires_at;
	}
	return MOSQ_ERR_SUCCESS;
}

static int on_basic_auth(int event, void *event_data, void *userdata)
{
	struct mosquitto_evt_basic_auth *ev = event_data;
	struct plugin *p = userdata;
	const char *client_id = mosquitto_client_id(ev->client);
	struct cr_grant grant = {0};
	int rc;

	(void)event;
	if(client_id == NULL) return MOSQ_ERR_AUTH;
	/* A previous connection on this pointer is gone: forget it either way. */
	clients_remove(&p->clients, ev->client);

	if(ev->username && !strcmp(ev->username, p->server_username)){
		if(ev->password == NULL || strlen(ev->password) != p->secret_len
				|| CRYPTO_memcmp(ev->password, p->secret, p->secret_len) != 0){
			notice_denied(ev->client, "connect", "wrong server password");
			return MOSQ_ERR_AUTH;
		}
		remember_server_id(p, client_id);
		return store_entry(p, ev->client, client_id, 1, &grant);
	}

	if(is_server_id(p, client_id)){
		notice_denied(ev->client, "connect", "token client using a server client id");
		return MOSQ_ERR_AUTH;
	}
	/* JSON needs UTF-8; a token never is anything else. */
	if((ev->username && mosquitto_validate_utf8(ev->username, (int)strlen(ev->username)))
			|| (ev->password && (strlen(ev->password) > 65535
					|| mosquitto_validate_utf8(ev->password, (int)strlen(ev->password))))){
		notice_denied(ev->client, "connect", "username or password is not UTF-8 text");
		return MOSQ_ERR_AUTH;
	}

	rc = ask_auth_service(p, ev, client_id, &grant);
	if(rc != MOSQ_ERR_SUCCESS) return rc;
	return store_entry(p, ev->client, client_id, 0, &grant);
}

static int listed(char *const *topics, int count, const char *topic)
{
	for(int i = 0; i < count; i++){
		if(!strcmp(topics[i], topic)) return 1;
	}
	return 0;
}

static int on_acl_check(int event, void *event_data, void *userdata)
{
	struct mosquitto_evt_acl_check *ev = event_data;
	struct plugin *p = userdata;
	const struct client_entry *e = clients_find(&p->clients, ev->client);
	const struct cr_grant *g;
	const char *what, *why;
	char buf[96];

	(void)event;
	if(e && e->is_server) return MOSQ_ERR_SUCCESS;

	switch(ev->access){
		case MOSQ_ACL_SUBSCRIBE: what = "subscribe"; break;
		case MOSQ_ACL_UNSUBSCRIBE: what = "unsubscribe"; break;
		case MOSQ_ACL_WRITE: what = "publish"; break;
		case MOSQ_ACL_READ: what = "delivery"; break;
		default: what = "access"; break;
	}

	if(e == NULL){
		why = "unknown client (never authenticated, or already disconnected: e.g. its will)";
	}else if(e->grant.expires_at <= (int64_t)time(NULL)){
		why = "token expired";
	}else{
		g = &e->grant;
		switch(ev->access){
			case MOSQ_ACL_SUBSCRIBE:
				/* Byte equality: no wildcards, $SYS or $share/<g>/ unless listed. */
				if(listed(g->subscribe, g->subscribe_count, ev->topic)) return MOSQ_ERR_SUCCESS;
				why = "topic filter not granted";
				break;
			case MOSQ_ACL_UNSUBSCRIBE:
				return MOSQ_ERR_SUCCESS; /* harmless */
			case MOSQ_ACL_WRITE:
				if(ev->retain){
					why = "retained publish";
					break;
				}
				if(listed(g->publish, g->publish_count, ev->topic)) return MOSQ_ERR_SUCCESS;
				why = "topic not granted";
				break;
			case MOSQ_ACL_READ:
				if(listed(g->subscribe, g->subscribe_count, ev->topic)) return MOSQ_ERR_SUCCESS;
				why = "topic not granted";
				break;
			default:
				why = "unknown access type";
				break;
		}
	}

	/*
	 * Deliveries are checked per message per subscriber; a denial there is
	 * expected for a moment around expiry and would flood the log at NOTICE.
	 */
	if(ev->access == MOSQ_ACL_READ){
		char idbuf[12];
		mosquitto_log_printf(MOSQ_LOG_DEBUG, "chatroom_auth: denied delivery of %.64s to client %s: %s",
				ev->topic, short_id(mosquitto_client_id(ev->client), idbuf), why);
	}else{
		snprintf(buf, sizeof(buf), "%s %.64s", what, ev->topic ? ev->topic : "");
		notice_denied(ev->client, buf, why);
	}
	return MOSQ_ERR_ACL_DENIED;
}

static int on_message(int event, void *event_data, void *userdata)
{
	struct mosquitto_evt_message *ev = event_data;
	struct plugin *p = userdata;
	const struct client_entry *e = clients_find(&p->clients, ev->client);

	(void)event;
	if(e && e->is_server) return MOSQ_ERR_SUCCESS;
	if(e == NULL){
		/* The WRITE check already refused it; never route an unstamped message. */
		notice_denied(ev->client, "message", "not authenticated by this plugin");
		return MOSQ_ERR_ACL_DENIED;
	}
	/*
	 * Only the identity the auth service vouched for goes through: drop
	 * whatever the client sent (user properties, content type, response
	 * topic, correlation data, payload format). The message expiry interval
	 * is not in this list; Mosquitto keeps it apart and still honours it.
	 */
	mosquitto_property_free_all(&ev->properties);
	if(mosquitto_property_add_string_pair(&ev->properties, MQTT_PROP_USER_PROPERTY,
				IDENTITY_PROPERTY, e->grant.identity) != MOSQ_ERR_SUCCESS){
		notice_denied(ev->client, "message", "could not attach the identity");
		return MOSQ_ERR_ACL_DENIED;
	}
	return MOSQ_ERR_SUCCESS;
}

static int on_disconnect(int event, void *event_data, void *userdata)
{
	struct mosquitto_evt_disconnect *ev = event_data;
	struct plugin *p = userdata;

	(void)event;
	clients_remove(&p->clients, ev->client);
	return MOSQ_ERR_SUCCESS;
}

/*
 * Kicks the clients collected in ids (then frees them). Kicking runs our own
 * disconnect callback, which changes the table, so never kick while walking
 * the table: collect first.
 */
static void kick_all(char **ids, size_t count, const char *why)
{
	char buf[12];

	for(size_t i = 0; i < count; i++){
		mosquitto_log_printf(MOSQ_LOG_NOTICE, "chatroom_auth: kicking client %s: %s",
				short_id(ids[i], buf), why);
		mosquitto_kick_client_by_clientid(ids[i], false);
		free(ids[i]);
	}
	free(ids);
}

/* Marks and collects the ids of token clients matching `match`. */
static char **collect(struct plugin *p, int (*match)(const struct client_entry *, const void *),
		const void *arg, size_t *count)
{
	char **ids = calloc(p->clients.count + 1, sizeof(*ids));

	*count = 0;
	if(ids == NULL) return NULL;
	for(size_t i = 0; i < p->clients.capacity; i++){
		struct client_entry *e = p->clients.slots[i];

		if(e == NULL || e->is_server || e->kicked || !match(e, arg)) continue;
		ids[*count] = strdup(e->client_id);
		if(ids[*count] == NULL) break;
		e->kicked = 1;
		(*count)++;
	}
	return ids;
}

static int match_expired(const struct client_entry *e, const void *arg)
{
	return e->grant.expires_at <= *(const int64_t *)arg;
}

static int match_kick(const struct client_entry *e, const void *arg)
{
	const struct cr_kick *k = arg;

	switch(k->kind){
		case CR_KICK_ROOM:
			return !strcmp(e->grant.room, k->room);
		case CR_KICK_ROOM_USER:
			return !strcmp(e->grant.room, k->room) && !strcmp(e->grant.user, k->user);
		case CR_KICK_SESSION:
			return !strcmp(e->grant.session, k->session);
	}
	return 0;
}

static void kick_expired(struct plugin *p, time_t now)
{
	int64_t now64 = (int64_t)now;
	char **ids;
	size_t count;

	if(p->next_expiry == 0 || now < p->next_expiry) return;
	ids = collect(p, match_expired, &now64, &count);
	/* Recompute the earliest expiry among the clients that stay. */
	p->next_expiry = 0;
	for(size_t i = 0; i < p->clients.capacity; i++){
		const struct client_entry *e = p->clients.slots[i];

		if(e && !e->is_server && !e->kicked
				&& (p->next_expiry == 0 || e->grant.expires_at < p->next_expiry)){
			p->next_expiry = (time_t)e->grant.expires_at;
		}
	}
	if(ids) kick_all(ids, count, "token expired");
}

static int compare_room_ptrs(const void *a, const void *b)
{
	return strcmp(*(char *const *)a, *(char *const *)b);
}

static void free_rooms(struct room_count *rooms, size_t count)
{
	for(size_t i = 0; i < count; i++) free(rooms[i].room);
	free(rooms);
}

/* Per-room counts of live token clients, sorted by room. */
static struct room_count *count_rooms(struct plugin *p, time_t now, size_t *out_count)
{
	const char **names = calloc(p->clients.count + 1, sizeof(*names));
	struct room_count *rooms = calloc(p->clients.count + 1, sizeof(*rooms));
	size_t n = 0, r = 0;

	*out_count = 0;
	if(names == NULL || rooms == NULL) goto fail;
	for(size_t i = 0; i < p->clients.capacity; i++){
		const struct client_entry *e = p->clients.slots[i];

		if(e && !e->is_server && !e->kicked && e->grant.expires_at > (int64_t)now){
			names[n++] = e->grant.room;
		}
	}
	qsort(names, n, sizeof(*names), compare_room_ptrs);
	for(size_t i = 0; i < n; i++){
		if(r > 0 && !strcmp(rooms[r - 1].room, names[i])){
			rooms[r - 1].count++;
			continue;
		}
		rooms[r].room = strdup(names[i]);
		if(rooms[r].room == NULL) goto fail;
		rooms[r++].count = 1;
	}
	free(names);
	*out_count = r;
	return rooms;
fail:
	free(names);
	if(rooms) free_rooms(rooms, r);
	return NULL;
}

static int same_rooms(const struct room_count *a, size_t na, const struct room_count *b, size_t nb)
{
	if(na != nb) return 0;
	for(size_t i = 0; i < na; i++){
		if(a[i].count != b[i].count || strcmp(a[i].room, b[i].room)) return 0;
	}
	return 1;
}

/* {"rooms": {...}}: the current counts, plus 0 for rooms that just emptied. */
static char *presence_json(const struct room_count *now, size_t n_now,
		const struct room_count *before, size_t n_before)
{
	cJSON *root = cJSON_CreateObject();
	cJSON *rooms = root ? cJSON_AddObjectToObject(root, "rooms") : NULL;
	size_t i = 0, j = 0;
	char *text = NULL;

	if(rooms == NULL) goto done;
	/* Both lists are sorted: merge them. */
	while(i < n_now || j < n_before){
		int cmp = i >= n_now ? 1 : j >= n_before ? -1 : strcmp(now[i].room, before[j].room);

		if(cmp <= 0){
			if(!cJSON_AddNumberToObject(rooms, now[i].room, (double)now[i].count)) goto done;
			i++;
			if(cmp == 0) j++;
		}else{
			if(!cJSON_AddNumberToObject(rooms, before[j].room, 0)) goto done;
			j++;
		}
	}
	text = cJSON_PrintUnformatted(root);
done:
	cJSON_Delete(root);
	return text;
}

static void publish_presence(struct plugin *p, time_t now)
{
	struct room_count *rooms;
	size_t count;
	char *text;

	if(now - p->last_presence_check < p->presence_interval) return;
	p->last_presence_check = now;

	rooms = count_rooms(p, now, &count);
	if(rooms == NULL) return;
	if(same_rooms(rooms, count, p->last_rooms, p->last_room_count)
			&& now - p->last_presence_publish < PRESENCE_HEARTBEAT_S){
		free_rooms(rooms, count);
		return;
	}
	text = presence_json(rooms, count, p->last_rooms, p->last_room_count);
	if(text == NULL){
		free_rooms(rooms, count);
		return;
	}
	/* NULL client id: to every subscriber the ACL lets read it (the server). */
	if(mosquitto_broker_publish_copy(NULL, p->presence_topic, (int)strlen(text), text, 0, false, NULL)
			== MOSQ_ERR_SUCCESS){
		free_rooms(p->last_rooms, p->last_room_count);
		p->last_rooms = rooms;
		p->last_room_count = count;
		p->last_presence_publish = now;
	}else{
		free_rooms(rooms, count);
	}
	cJSON_free(text);
}

/*
 * Mosquitto 2.0.11 sends TICK once per pass of its main loop: at least every
 * ~100 ms (its poll timeout), far more often when busy. Work once a second.
 */
static int on_tick(int event, void *event_data, void *userdata)
{
	struct plugin *p = userdata;
	time_t now = time(NULL);

	(void)event;
	(void)event_data;
	if(now == p->last_tick_s) return MOSQ_ERR_SUCCESS;
	p->last_tick_s = now;
	kick_expired(p, now);
	publish_presence(p, now);
	return MOSQ_ERR_SUCCESS;
}

/*
 * Always returns MOSQ_ERR_SUCCESS: in 2.0.11 an error from a control
 * callback is returned from the PUBLISH handler, which disconnects the
 * publisher, i.e. our own server.
 */
static int on_control(int event, void *event_data, void *userdata)
{
	struct mosquitto_evt_control *ev = event_data;
	struct plugin *p = userdata;
	const struct client_entry *e = clients_find(&p->clients, ev->client);
	struct cr_kick kick;
	const char *why = NULL;
	char **ids;
	size_t count;

	(void)event;
	if(e == NULL || !e->is_server){
		notice_denied(ev->client, "control command", "not the server");
		return MOSQ_ERR_SUCCESS;
	}
	if(cr_parse_control(ev->payload, ev->payloadlen, &kick, &why)){
		mosquitto_log_printf(MOSQ_LOG_WARNING, "chatroom_auth: ignoring malformed control payload: %s", why);
		return MOSQ_ERR_SUCCESS;
	}
	ids = collect(p, match_kick, &kick, &count);
	cr_kick_free(&kick);
	if(ids) kick_all(ids, count, "kicked by the server");
	return MOSQ_ERR_SUCCESS;
}

/* ------------------------------------------------------------------------ */
/* Plugin entry points                                                      */

static void plugin_free(struct plugin *p)
{
	if(p == NULL) return;
	if(p->curl) curl_easy_cleanup(p->curl);
	curl_slist_free_all(p->headers);
	if(p->curl_global) curl_global_cleanup();
	clients_clear(&p->clients);
	free_rooms(p->last_rooms, p->last_room_count);
	for(int i = 0; i < SERVER_IDS; i++) free(p->server_ids[i]);
	if(p->secret) OPENSSL_cleanse(p->secret, p->secret_len);
	free(p->secret);
	free(p->auth_url);
	free(p->server_username);
	free(p->presence_topic);
	free(p);
}

static const struct {
	int event;
	MOSQ_FUNC_generic_callback cb;
	const char *data;
} callbacks[] = {
	{MOSQ_EVT_BASIC_AUTH, on_basic_auth, NULL},
	{MOSQ_EVT_ACL_CHECK, on_acl_check, NULL},
	{MOSQ_EVT_MESSAGE, on_message, NULL},
	{MOSQ_EVT_DISCONNECT, on_disconnect, NULL},
	{MOSQ_EVT_TICK, on_tick, NULL},
	{MOSQ_EVT_CONTROL, on_control, CONTROL_TOPIC},
};
#define CALLBACK_COUNT (sizeof(callbacks) / sizeof(callbacks[0]))

PLUGIN_EXPORT int mosquitto_plugin_version(int supported_version_count, const int *supported_versions)
{
	for(int i = 0; i < supported_version_count; i++){
		if(supported_versions[i] == 5) return 5;
	}
	return -1;
}

PLUGIN_EXPORT int mosquitto_plugin_init(mosquitto_plugin_id_t *identifier, void **userdata,
		struct mosquitto_opt *opts, int opt_count)
{
	struct plugin *p = calloc(1, sizeof(*p));

	if(p == NULL) return MOSQ_ERR_NOMEM;
	p->pid = identifier;
	if(read_options(p, opts, opt_count) || setup_curl(p)){
		plugin_free(p);
		return MOSQ_ERR_INVAL;
	}
	p->last_presence_check = p->last_presence_publish = time(NULL);

	for(size_t i = 0; i < CALLBACK_COUNT; i++){
		int rc = mosquitto_callback_register(identifier, callbacks[i].event,
				callbacks[i].cb, callbacks[i].data, p);
		if(rc != MOSQ_ERR_SUCCESS){
			mosquitto_log_printf(MOSQ_LOG_ERR, "chatroom_auth: cannot register callback for event %d: %s",
					callbacks[i].event, mosquitto_strerror(rc));
			for(size_t j = 0; j < i; j++){
				mosquitto_callback_unregister(identifier, callbacks[j].event,
						callbacks[j].cb, callbacks[j].data);
			}
			plugin_free(p);
			return rc;
		}
	}
	*userdata = p;
	mosquitto_log_printf(MOSQ_LOG_INFO, "chatroom_auth: ready (auth_url %s, server_username %s)",
			p->auth_url, p->server_username);
	return MOSQ_ERR_SUCCESS;
}

PLUGIN_EXPORT int mosquitto_plugin_cleanup(void *userdata, struct mosquitto_opt *opts, int opt_count)
{
	struct plugin *p = userdata;

	(void)opts;
	(void)opt_count;
	if(p == NULL) return MOSQ_ERR_SUCCESS;
	for(size_t i = 0; i < CALLBACK_COUNT; i++){
		mosquitto_callback_unregister(p->pid, callbacks[i].event, callbacks[i].cb, callbacks[i].data);
	}
	plugin_free(p);
	return MOSQ_ERR_SUCCESS;
}
