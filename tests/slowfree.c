/*
 * slowfree: an LD_PRELOAD library for test_tls_stop that widens a race in
 * nng 1.5.2 so that a test meets it every time instead of now and then.
 *
 * When jobd closes a tls+tcp:// listener, nng's TLS layer ends the pending
 * accept on one of nng's task threads (tls_conn_cb() in
 * supplemental/tls/tls_common.c): it completes the listener's aio first,
 * which lets nng_close() return, and only then frees the connection with
 * nng_stream_free(), which hands it to nng's reaper. libnng calls its own
 * nng_stream_free() through the PLT, so this library's stands in for it:
 * on a thread named "nng:task" it waits SLOWFREE_MS first, then calls
 * nng's. Nothing else changes; the daemon and nng are the real ones.
 */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE /* pthread_getname_np, RTLD_NEXT */
#endif
#include <dlfcn.h>
#include <pthread.h>
#include <string.h>
#include <time.h>

#define SLOWFREE_MS 20

struct nng_stream;
void nng_stream_free(struct nng_stream *s);

static void (*real_free)(struct nng_stream *);
static pthread_once_t once = PTHREAD_ONCE_INIT;

static void
find_real(void)
{
	/* POSIX's way to turn dlsym's pointer into a function pointer */
	*(void **) &real_free = dlsym(RTLD_NEXT, "nng_stream_free");
}

void
nng_stream_free(struct nng_stream *s)
{
	char name[16] = "";

	pthread_once(&once, find_real);
	if (pthread_getname_np(pthread_self(), name, sizeof(name)) == 0 &&
	    strcmp(name, "nng:task") == 0) {
		struct timespec ts = {0, SLOWFREE_MS * 1000000L};
		nanosleep(&ts, NULL);
	}
	if (real_free != NULL)
		real_free(s);
}
