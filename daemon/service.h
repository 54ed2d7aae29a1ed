#ifndef JOBD_SERVICE_H
#define JOBD_SERVICE_H

/*
 * service: the handlers of `service Jobs`, behind the protoc-c generated
 * service interface. Protobuf types stop here: below, the scheduler and the
 * store work on plain C records.
 */

#include <protobuf-c/protobuf-c.h>
#include <stdint.h>

#include "jobq.h"

typedef struct service service;

struct service_config {
	uint32_t workers;
	uint64_t max_queue;
};

/* The handlers, on queue q (which outlives the service). With a queue
 * whose reads may block, starts the database threads too. */
int service_create(service **svp, jobq *q, const struct service_config *cfg,
                   char *err, size_t errlen);
struct periodic;
/* The periodic schedules the Schedules method lists (NULL: none). Call
 * before the service serves. */
void service_set_periodic(service *sv, struct periodic *p);
/* The generated interface, to hand to rpc_dispatch(). */
ProtobufCService *service_base(service *sv);
/* Once the fronts take no more requests: the calls handed to the
 * database threads are run, and the threads joined. Before the queue's
 * drain. Accepts NULL. */
void service_drain(service *sv);
void service_destroy(service *sv);

#endif
