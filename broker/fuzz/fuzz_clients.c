/*
 * libFuzzer target: the client table against a trivial model. Each input
 * byte pair is an operation (put / remove / find) on one of 256 keys that
 * look like heap pointers; after each step the table must agree with the
 * model. This exercises growth and backward-shift deletion in clusters.
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "clients.h"

static const void *key(uint8_t k)
{
	return (const void *)(uintptr_t)(0x10000 + (uintptr_t)k * 16);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct client_table table = {0};
	int model[256] = {0};  /* generation stored for each key, 0: absent */
	int generation = 0;
	size_t count = 0;

	for(size_t i = 0; i + 1 < size; i += 2){
		uint8_t op = data[i] % 3, k = data[i + 1];

		if(op == 0){
			struct client_entry *e = calloc(1, sizeof(*e));
			char marker[16];

			if(e == NULL) abort();
			e->client = key(k);
			/* The client id carries a generation, to check that puts replace. */
			snprintf(marker, sizeof(marker), "%d", ++generation);
			if((e->client_id = strdup(marker)) == NULL) abort();
			if(clients_put(&table, e)) abort();
			if(!model[k]) count++;
			model[k] = generation;
		}else if(op == 1){
			clients_remove(&table, key(k));
			if(model[k]) count--;
			model[k] = 0;
		}
		/* Every key, every step: cheap with 256 keys, and catches lost entries. */
		for(int j = 0; j < 256; j++){
			struct client_entry *e = clients_find(&table, key((uint8_t)j));
			if((e == NULL) != (model[j] == 0)) abort();
			if(e && atoi(e->client_id) != model[j]) abort();
		}
		if(table.count != count) abort();
	}
	clients_clear(&table);
	return 0;
}
