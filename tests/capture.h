#ifndef JOBD_CAPTURE_H
#define JOBD_CAPTURE_H

/*
 * capture: a transport for rpc_dispatch() in unit tests, which keeps the
 * decoded Response and counts the replies (each call must get exactly one).
 */

#include <stdlib.h>
#include <string.h>

#include "jobd.pb-c.h"
#include "rpc.h"

/* What the transport saw. */
struct sent {
	struct rpc_call call; /* first */
	int nsent;
	Jobd__V1__Response *resp; /* the last reply, NULL if undecodable */
};

/* The rpc_call's send: counts, decodes and keeps the reply. */
static inline void
capture(struct rpc_call *c, uint8_t *buf, size_t len)
{
	struct sent *s = (struct sent *) c;
	s->nsent++;
	if (s->resp != NULL)
		jobd__v1__response__free_unpacked(s->resp, NULL);
	s->resp = jobd__v1__response__unpack(NULL, len, buf);
	free(buf);
}

/* Frees the reply and clears s for the next call. */
static inline void
sent_fini(struct sent *s)
{
	if (s->resp != NULL)
		jobd__v1__response__free_unpacked(s->resp, NULL);
	memset(s, 0, sizeof(*s));
}

#endif
