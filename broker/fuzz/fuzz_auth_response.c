/* libFuzzer target: the auth service's answer body. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "contract.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct cr_grant grant;
	const char *why = NULL;

	if(cr_parse_auth_response((const char *)data, size, &grant, &why) == CR_AUTH_ALLOW){
		/* Everything granted must respect the documented bounds. */
		if(grant.publish_count > CR_MAX_TOPICS || grant.subscribe_count > CR_MAX_TOPICS) abort();
		if(strlen(grant.room) > CR_MAX_STRING || strlen(grant.identity) > CR_MAX_STRING) abort();
		for(int i = 0; i < grant.subscribe_count; i++){
			if(grant.subscribe[i][0] == '\0' || strlen(grant.subscribe[i]) > CR_MAX_STRING) abort();
		}
		cr_grant_free(&grant);
	}else if(why == NULL){
		abort(); /* every refusal must say why, for the log */
	}
	return 0;
}
