#ifndef JOBD_STATUS_H
#define JOBD_STATUS_H

/*
 * The project's one error enum. Its values are gRPC's status codes, the same
 * names and numbers as `enum Code` in jobd.proto, so an error found deep in
 * storage travels to the wire without translation. Foreign errors (SQLite,
 * nng, errno) are converted to these at the module boundary.
 */
enum jobd_status {
	JOBD_OK = 0,
	JOBD_CANCELLED = 1,
	JOBD_UNKNOWN = 2,
	JOBD_INVALID_ARGUMENT = 3,
	JOBD_DEADLINE_EXCEEDED = 4,
	JOBD_NOT_FOUND = 5,
	JOBD_ALREADY_EXISTS = 6,
	JOBD_PERMISSION_DENIED = 7,
	JOBD_RESOURCE_EXHAUSTED = 8,
	JOBD_FAILED_PRECONDITION = 9,
	JOBD_ABORTED = 10,
	JOBD_OUT_OF_RANGE = 11,
	JOBD_UNIMPLEMENTED = 12,
	JOBD_INTERNAL = 13,
	JOBD_UNAVAILABLE = 14,
	JOBD_DATA_LOSS = 15,
	JOBD_UNAUTHENTICATED = 16,
};

/* The code's name as in jobd.proto ("NOT_FOUND"); "UNKNOWN" for values out of
 * range. Static storage. */
const char *jobd_status_name(int code);

#endif
