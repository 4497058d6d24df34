#include <stdint.h>
#include <stdlib.h>

#include "clients.h"

#define MIN_CAPACITY 64

/*
 * Fibonacci hashing of the pointer. Allocations are 16-byte aligned, so the
 * low bits carry no information; multiplying by 2^64/phi spreads the rest
 * and the top bits of the product are the best mixed, hence the shift.
 */
static size_t slot_of(const void *client, size_t capacity)
{
	uint64_t h = (uint64_t)(uintptr_t)client * UINT64_C(11400714819323198485);
	int bits = __builtin_ctzll((unsigned long long)capacity); /* capacity >= 64 */

	return (size_t)(h >> (64 - bits));
}

struct client_entry *clients_find(const struct client_table *table, const void *client)
{
	size_t mask, i;

	if(table->capacity == 0) return NULL;
	mask = table->capacity - 1;
	for(i = slot_of(client, table->capacity); table->slots[i]; i = (i + 1) & mask){
		if(table->slots[i]->client == client) return table->slots[i];
	}
	return NULL;
}

/* Places an entry known not to be in the table yet, into a table with room. */
static void place(struct client_entry **slots, size_t capacity, struct client_entry *entry)
{
	size_t i = slot_of(entry->client, capacity);

	while(slots[i]) i = (i + 1) & (capacity - 1);
	slots[i] = entry;
}

static int grow(struct client_table *table)
{
	size_t capacity = table->capacity ? table->capacity * 2 : MIN_CAPACITY;
	struct client_entry **slots = calloc(capacity, sizeof(*slots));

	if(slots == NULL) return -1;
	for(size_t i = 0; i < table->capacity; i++){
		if(table->slots[i]) place(slots, capacity, table->slots[i]);
	}
	free(table->slots);
	table->slots = slots;
	table->capacity = capacity;
	return 0;
}

int clients_put(struct client_table *table, struct client_entry *entry)
{
	size_t mask, i;

	if(table->capacity != 0){
		mask = table->capacity - 1;
		for(i = slot_of(entry->client, table->capacity); table->slots[i]; i = (i + 1) & mask){
			if(table->slots[i]->client == entry->client){
				/* Same connection authenticating again: replace. */
				client_entry_free(table->slots[i]);
				table->slots[i] = entry;
				return 0;
			}
		}
	}
	/* Keep the load factor <= 1/2 so probe sequences stay short. */
	if((table->count + 1) * 2 > table->capacity && grow(table)) return -1;
	place(table->slots, table->capacity, entry);
	table->count++;
	return 0;
}

void clients_remove(struct client_table *table, const void *client)
{
	size_t mask, i, j;

	if(table->capacity == 0) return;
	mask = table->capacity - 1;
	for(i = slot_of(client, table->capacity); table->slots[i]; i = (i + 1) & mask){
		if(table->slots[i]->client == client) break;
	}
	if(table->slots[i] == NULL) return;

	client_entry_free(table->slots[i]);
	table->slots[i] = NULL;
	table->count--;

	/*
	 * Backward-shift deletion: walk the rest of the cluster and move back
	 * every entry whose home slot is not cyclically within (i, j], so that
	 * no lookup ever stops early at the hole we just made.
	 */
	for(j = (i + 1) & mask; table->slots[j]; j = (j + 1) & mask){
		size_t home = slot_of(table->slots[j]->client, table->capacity);
		bool stays = (i < j) ? (home > i && home <= j) : (home > i || home <= j);

		if(!stays){
			table->slots[i] = table->slots[j];
			table->slots[j] = NULL;
			i = j;
		}
	}
}

void clients_clear(struct client_table *table)
{
	for(size_t i = 0; i < table->capacity; i++){
		if(table->slots[i]) client_entry_free(table->slots[i]);
	}
	free(table->slots);
	table->slots = NULL;
	table->capacity = 0;
	table->count = 0;
}

void client_entry_free(struct client_entry *entry)
{
	if(entry == NULL) return;
	free(entry->client_id);
	cr_grant_free(&entry->grant);
	free(entry);
}
