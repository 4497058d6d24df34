/* libFuzzer target: $CONTROL/chatroom/v1 payloads. */
#include <stdint.h>
#include <stdlib.h>

#include "contract.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct cr_kick kick;
	const char *why = NULL;

	if(cr_parse_control(data, size, &kick, &why) == 0){
		/* Each shape carries exactly its own fields. */
		switch(kick.kind){
			case CR_KICK_ROOM:
				if(!kick.room || kick.user || kick.session) abort();
				break;
			case CR_KICK_ROOM_USER:
				if(!kick.room || !kick.user || kick.session) abort();
				break;
			case CR_KICK_SESSION:
				if(kick.room || kick.user || !kick.session) abort();
				break;
			default:
				abort();
		}
		cr_kick_free(&kick);
	}else if(why == NULL){
		abort();
	}
	return 0;
}
