/*
 * Per-connection state, keyed by Mosquitto's `struct mosquitto *` pointer.
 *
 * The READ ACL check runs for every delivery to every subscriber, so lookups
 * must be O(1): an open-addressing hash table with linear probing, kept at
 * most half full, with backward-shift deletion (no tombstones, so lookups
 * never degrade however many clients come and go).
 */
#ifndef CHATROOM_CLIENTS_H
#define CHATROOM_CLIENTS_H

#include <stdbool.h>
#include <stddef.h>

#include "contract.h"

struct client_entry {
	const void *client;     /* the key: Mosquitto's struct mosquitto * */
	char *client_id;        /* our own copy, for kicking by client id */
	bool is_server;         /* authenticated with server_username + secret */
	bool kicked;            /* a kick was asked for; the disconnect may lag */
	struct cr_grant grant;  /* token clients only */
};

struct client_table {
	struct client_entry **slots;
	size_t capacity;  /* a power of two, or 0 before the first insert */
	size_t count;
};

/* Returns the entry for `client`, or NULL. */
struct client_entry *clients_find(const struct client_table *table, const void *client);

/*
 * Stores `entry` (allocated by the caller) under entry->client, freeing any
 * previous entry for the same client. Returns 0, or -1 when out of memory
 * (the entry is then still the caller's).
 */
int clients_put(struct client_table *table, struct client_entry *entry);

/* Removes and frees the entry for `client`, if any. */
void clients_remove(struct client_table *table, const void *client);

/* Frees every entry and the table's storage. */
void clients_clear(struct client_table *table);

void client_entry_free(struct client_entry *entry);

/* Iterate with: for(size_t i = 0; i < t->capacity; i++) if(t->slots[i]) ...
 * Do not insert or remove while iterating. */

#endif
